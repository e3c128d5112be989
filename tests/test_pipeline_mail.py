"""E-mail sources end to end: HTTP in, the store, the dispatcher, the Bloxs sandbox."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from adapter.bloxs.sandbox import Faults, SandboxConfig
from tests.support.harness import REPO, Harness, dumps, fixture_bytes, running
from tests.support.mail import (
    JPEG,
    MAILGUN_FIELDS,
    MULTIPART,
    PARSER_TOKEN,
    POSTMARK_PASSWORD,
    POSTMARK_TOKEN,
    POSTMARK_USER,
    SENDGRID_FIELDS,
    SENDGRID_TOKEN,
    configure_mail,
    mailgun_signature,
    multipart,
)

JSON = {"content-type": "application/json"}
SENDGRID_FIXTURE_TYPE = {"content-type": "multipart/form-data; boundary=xYzZY"}
COMPOSED_POSTMARK = "composed/postmark_inbound.json"
FIRST_MESSAGE_ID = "CAF3x9Qm7Lr2Jv0@mail.example-tenant.nl"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with running(tmp_path, configure=configure_mail(tmp_path)) as h:
        yield h


def ticket_of(h: Harness, external_id: str) -> dict[str, Any]:
    matches = [t for t in h.tickets() if t["externalIdentifier"] == external_id]
    assert len(matches) == 1, f"{len(matches)} tickets for {external_id}"
    return matches[0]


def notes_of(ticket: dict[str, Any]) -> list[str]:
    return [n["message"] if isinstance(n, dict) else n for n in ticket.get("notes", [])]


def postmark(h: Harness, body: bytes, token: str = POSTMARK_TOKEN) -> Any:
    return h.post("postmark", body, JSON, params={"token": token})


def sendgrid(h: Harness, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return h.post(
        "sendgrid", body, headers or {"content-type": MULTIPART}, {"token": SENDGRID_TOKEN}
    )


def mailgun(h: Harness, fields: dict[str, str], signature: dict[str, str] | None = None) -> Any:
    body = multipart(
        {**fields, **(signature or mailgun_signature())},
        {"attachment-1": ("window-a107.jpg", "image/jpeg", JPEG)},
    )
    return h.post("mailgun", body, {"content-type": MULTIPART})


def stored_bytes(h: Harness) -> bytes:
    return b"".join(p.read_bytes() for p in h.directory.glob("store.db*"))


def postmark_mail(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(fixture_bytes(COMPOSED_POSTMARK))
    payload.update(changes)
    return payload


# --- every fixture, end to end --------------------------------------------------------------


def test_postmark_fixtures_become_tickets(harness: Harness) -> None:
    """Every Postmark fixture: a ticket with id, text, reporter, object, date and an
    attachments note; a repeated MessageID is a duplicate; unknown senders without an object
    are parked with the reason; attachment bytes never reach the store."""
    expected = {
        COMPOSED_POSTMARK: (FIRST_MESSAGE_ID, "100003", "300001", "2025-03-14"),
        "postmark/anymail-postmark-test-payload-2023.json": (
            "00000000-0000-0000-0000-000000000000",
            "100001",
            "300002",
            "2023-05-05",
        ),
        "postmark/postmark-test-payload-2014-two-attachments.json": (
            "73e6d360-66eb-11e1-8e72-a8904824019b",
            "100001",
            "300002",
            "2014-08-01",
        ),
    }
    ids = {}
    for name in expected:
        response = postmark(harness, fixture_bytes(name))
        assert response.status_code == 200, (name, response.text)
        assert response.json()["status"] == "pending"
        ids[name] = response.json()["deliveryId"]
    again = postmark(
        harness, fixture_bytes("postmark/anymail-postmark-test-payload-with-rawemail-2023.json")
    )
    assert again.json() == {
        "deliveryId": ids["postmark/anymail-postmark-test-payload-2023.json"],
        "duplicate": True,
    }
    for name in (
        "postmark/postmark-inbound-2012-png-attachments.json",
        "postmark/postmark-inbound-inline-contentid.json",
    ):
        response = postmark(harness, fixture_bytes(name))
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "parked"
        assert "no real estate object" in response.json()["reason"]
    for name, (external_id, reporter, obj, day) in expected.items():
        harness.wait_status(ids[name])
        ticket = ticket_of(harness, external_id)
        payload = json.loads(fixture_bytes(name))
        assert ticket["reporterReference"] == reporter
        assert ticket["reporterContactPersonType"] == 0
        assert ticket["realEstateObjectReference"] == obj
        assert ticket["reportingDate"] == day
        assert ticket["stateName"] == "Nieuw"
        assert ticket["description"].startswith(payload["Subject"] + "\n\n")
        notes = notes_of(ticket)
        assert notes[-1].startswith("Attachments (not forwarded):\n")
        for attachment in payload["Attachments"]:
            assert attachment["Name"] in notes[-1]
    composed = ticket_of(harness, FIRST_MESSAGE_ID)
    assert composed["priority"] == 3
    assert "water is dripping from the ceiling" in composed["description"]
    assert len(harness.tickets()) == 3
    data = stored_bytes(harness)
    for name in [*expected, "postmark/postmark-inbound-2012-png-attachments.json"]:
        for attachment in json.loads(fixture_bytes(name))["Attachments"]:
            content = attachment.get("Content") or attachment["Data"]
            assert content.encode()[:40] not in data


def test_sendgrid_fixtures_and_composed_post(harness: Harness) -> None:
    """The three Inbound Parse samples (parsed, raw, raw with an attachment) and the composed
    parsed post with a file part each make their ticket."""
    samples = {
        "default": "Testing non-raw\n\nHello Twilio SendGrid!",
        "raw": "Inbound Parse Test Raw Data\n\nHello Twilio SendGrid!",
        "raw-with-attachments": "Inbound Parse Test Raw Data with Attachment\n\n"
        "Hello Twilio SendGrid!",
    }
    ids = []
    for name in samples:
        body = fixture_bytes(f"sendgrid/sendgrid-inbound-parse-{name}.multipart.txt")
        response = sendgrid(harness, body, SENDGRID_FIXTURE_TYPE)
        assert response.status_code == 202, (name, response.text)
        ids.append(response.json()["deliveryId"])
    composed = multipart(SENDGRID_FIELDS, {"attachment1": ("fusebox.jpg", "image/jpeg", JPEG)})
    response = sendgrid(harness, composed)
    assert response.status_code == 202, response.text
    ids.append(response.json()["deliveryId"])
    for delivery_id in ids:
        harness.wait_status(delivery_id)
    by_text = {t["description"]: t for t in harness.tickets()}
    for description in samples.values():
        ticket = by_text[description]
        assert (ticket["reporterReference"], ticket["realEstateObjectReference"]) == (
            "100002",
            "300010",
        )
    assert notes_of(by_text[samples["raw-with-attachments"]]) == [
        "Attachments (not forwarded):\n- SendGrid.jpg (image/jpeg, 10.1 KiB)"
    ]
    ticket = ticket_of(harness, "CAF3x9QpZ2@mail.example-tenant.nl")
    assert ticket["description"].startswith("Fuse box smells burnt - basement B\n\nHello,")
    assert (ticket["reporterReference"], ticket["realEstateObjectReference"]) == (
        "100003",
        "300001",
    )
    assert ticket["reportingDate"] == "2025-03-14"
    assert ticket["priority"] == 3
    assert notes_of(ticket) == ["Attachments (not forwarded):\n- fusebox.jpg (image/jpeg, 2.0 KiB)"]
    assert JPEG[4:68] not in stored_bytes(harness)


def test_mailgun_composed_post_and_urlencoded_non_ascii(harness: Harness) -> None:
    """The composed multipart route post, and a urlencoded one from an unknown sender with a
    non-ASCII subject, an object code and a phone number, become tickets."""
    first = mailgun(harness, MAILGUN_FIELDS)
    assert first.status_code == 200, first.text
    fields = {
        "from": "Jürgen Groß <jg@voorbeeld.de>",
        "subject": "Verwarming kapot – café [KS5A] ☃",
        "body-plain": "De radiator in de gang is ijskoud.\n\nGroet,\nJürgen\nTel. 06-12345678",
        "message-headers": json.dumps(
            [["Message-Id", "<zürich-1@Voorbeeld.DE>"], ["Date", "Tue, 03 Dec 2024 23:30:00 +0000"]]
        ),
        **mailgun_signature(),
    }
    second = harness.post(
        "mailgun", urlencode(fields).encode(), {"content-type": "application/x-www-form-urlencoded"}
    )
    assert second.status_code == 200, second.text
    harness.wait_status(first.json()["deliveryId"])
    harness.wait_status(second.json()["deliveryId"])
    ticket = ticket_of(harness, "CAF3x9QnB8uT4@mail.example-tenant.nl")
    assert ticket["description"] == (
        "Broken window latch, room A1.07\n\nHi,\n\nThe window latch in room A1.07 is broken, "
        "the window cannot be closed and it is raining in."
    )
    assert (ticket["reporterReference"], ticket["realEstateObjectReference"]) == (
        "100003",
        "300001",
    )
    assert notes_of(ticket) == [
        "Attachments (not forwarded):\n- window-a107.jpg (image/jpeg, 2.0 KiB)"
    ]
    ticket = ticket_of(harness, "zürich-1@voorbeeld.de")
    assert ticket["description"].startswith("Verwarming kapot – café [KS5A] ☃\n\nDe radiator")
    assert ticket["reporterReference"] == "100099"
    assert ticket["reporterContactPersonType"] == 1
    assert ticket["reporterExternalContactPersonName"] == "Jürgen Groß"
    assert ticket["reporterExternalContactPersonEmail"] == "jg@voorbeeld.de"
    assert ticket["reporterExternalContactPersonPhoneNumber"] == "06-12345678"
    assert ticket["realEstateObjectReference"] == "300010"
    assert ticket["reportingDate"] == "2024-12-04"


def test_email_parser_json(harness: Harness) -> None:
    """A parser's JSON with an object code maps end to end; the document id dedupes."""
    document = {
        "document_id": "doc-4711",
        "sender": {"email": "Ines.Çelik@voorbeeld.nl", "name": "Ines Çelik"},
        "subject": "Deurbel werkt niet",
        "body_plain": "De deurbel van nummer 14 doet het niet meer.",
        "received": "2025-03-14T23:10:00Z",
        "object_code": "LL14",
    }
    headers = {**JSON, "x-webhook-token": PARSER_TOKEN}
    response = harness.post("mail-parser", dumps(document), headers)
    assert response.status_code == 202, response.text
    assert harness.post("mail-parser", dumps(document), headers).json()["duplicate"] is True
    harness.wait_status(response.json()["deliveryId"])
    (ticket,) = harness.tickets()
    assert (
        ticket["description"]
        == "Deurbel werkt niet\n\nDe deurbel van nummer 14 doet het niet meer."
    )
    assert ticket["realEstateObjectReference"] == "300002"
    assert ticket["reporterReference"] == "100099"
    assert ticket["reporterExternalContactPersonName"] == "Ines Çelik"
    assert ticket["reportingDate"] == "2025-03-15"


# --- mapping details ----------------------------------------------------------------------


def test_long_non_ascii_mail_from_unknown_sender(harness: Harness) -> None:
    """A long non-ASCII mail: description shortened to 512 with "…", the whole text as a note,
    the unknown sender as external contact with the phone from the body, object by code."""
    paragraph = "De kraan in de keukën lekt ernstig en het water loopt tot in de gang. " * 10
    payload = postmark_mail(
        FromFull={"Email": "zoe@voorbeeld.nl", "Name": "Zoë Ünal"},
        Subject="Lekkage keuken – object LL14",
        TextBody=f"{paragraph}\n\nBel me op 06-98765432.\n",
        Attachments=[],
        Headers=[{"Name": "Message-ID", "Value": "<long-1@voorbeeld.nl>"}],
        Date="Tue, 03 Dec 2024 23:30:00 +0000",
    )
    response = postmark(harness, dumps(payload))
    harness.wait_status(response.json()["deliveryId"])
    ticket = ticket_of(harness, "long-1@voorbeeld.nl")
    assert len(ticket["description"]) <= 512
    assert ticket["description"].endswith("…")
    assert ticket["description"].startswith("Lekkage keuken – object LL14\n\nDe kraan in de keukën")
    (note,) = notes_of(ticket)
    assert note.startswith("Lekkage keuken – object LL14\n\n")
    assert "06-98765432" in note
    assert (ticket["reporterReference"], ticket["reporterContactPersonType"]) == ("100099", 1)
    assert ticket["reporterExternalContactPersonName"] == "Zoë Ünal"
    assert ticket["reporterExternalContactPersonEmail"] == "zoe@voorbeeld.nl"
    assert ticket["reporterExternalContactPersonPhoneNumber"] == "06-98765432"
    assert ticket["realEstateObjectReference"] == "300002"
    assert ticket["reportingDate"] == "2024-12-04"


def test_html_only_and_encoded_raw_mail(harness: Harness) -> None:
    """An HTML-only parsed post loses its quoted block; a raw post with RFC 2047 words and a
    quoted-printable ISO-8859-1 body is decoded."""
    html_only = {k: v for k, v in SENDGRID_FIELDS.items() if k not in ("text", "attachments")}
    html_only["headers"] = SENDGRID_FIELDS["headers"].replace("CAF3x9QpZ2", "html-only-1")
    html_only["html"] = (
        "<html><head><style>p{color:red}</style></head><body><p>Het &amp; lampje in de "
        "<b>lift</b> knippert.</p><blockquote>Eerder bericht: alles in orde</blockquote>"
        "</body></html>"
    )
    raw = (
        "From: =?iso-8859-1?q?Ren=E9_Fran=E7ois?= <rene@voorbeeld.be>\r\n"
        "Subject: =?utf-8?b?U3RvcmluZyBsaWZ0IOKAkyBjb2RlOiBMTDEy?=\r\n"
        "Message-ID: <raw-qp-1@voorbeeld.be>\r\nDate: Fri, 14 Mar 2025 10:00:00 +0100\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        "De lift blijft hangen op de 2e verdieping=\r\n"
        " bij caf=E9 =AB De Hoek =BB.\r\n"
    ).encode("ascii")
    raw_post = multipart({"email": raw, "from": "rene@voorbeeld.be", "to": "meldingen@x"})
    first = sendgrid(harness, multipart(html_only))
    second = sendgrid(harness, raw_post)
    assert (first.status_code, second.status_code) == (202, 202), (first.text, second.text)
    harness.wait_status(first.json()["deliveryId"])
    harness.wait_status(second.json()["deliveryId"])
    ticket = ticket_of(harness, "html-only-1@mail.example-tenant.nl")
    assert ticket["description"] == (
        "Fuse box smells burnt - basement B\n\nHet & lampje in de lift knippert."
    )
    ticket = ticket_of(harness, "raw-qp-1@voorbeeld.be")
    assert ticket["description"] == (
        "Storing lift – code: LL12\n\n"
        "De lift blijft hangen op de 2e verdieping bij café « De Hoek »."
    )
    assert ticket["reporterExternalContactPersonName"] == "René François"
    assert ticket["realEstateObjectReference"] == "300001"


# --- threading ----------------------------------------------------------------------------


def reply_to_first(message_id: str, postmark_id: str, subject: str = "Re: Water leaking") -> bytes:
    return dumps(
        postmark_mail(
            MessageID=postmark_id,
            Subject=subject,
            TextBody="The bucket is full now.\n\nOn Fri, 14 Mar 2025 Facilities wrote:\n> Noted.",
            StrippedTextReply="",
            Attachments=[],
            Headers=[
                {"Name": "Message-ID", "Value": f"<{message_id}>"},
                {"Name": "In-Reply-To", "Value": f"<{FIRST_MESSAGE_ID}>"},
            ],
        )
    )


def test_reply_becomes_a_note_on_the_ticket(harness: Harness) -> None:
    """A reply (In-Reply-To) after the ticket exists, and a mail with the ticket token in its
    subject, are notes on that ticket: one ticket in total."""
    first = postmark(harness, fixture_bytes(COMPOSED_POSTMARK))
    harness.wait_status(first.json()["deliveryId"])
    reply = postmark(harness, reply_to_first("reply-1@mail.example-tenant.nl", "pm-reply-1"))
    assert reply.status_code == 200, reply.text
    token_mail = dumps(
        postmark_mail(
            MessageID="pm-token-1",
            Subject=f"Nog iets [ticket:{FIRST_MESSAGE_ID}]",
            TextBody="Ook de lamp is kapot.",
            Attachments=[],
            Headers=[{"Name": "Message-ID", "Value": "<token-1@mail.example-tenant.nl>"}],
        )
    )
    tokened = postmark(harness, token_mail)
    for response in (reply, tokened):
        delivery = harness.wait_status(response.json()["deliveryId"])
        assert (delivery.kind, delivery.external_id) == ("note", FIRST_MESSAGE_ID)
    (ticket,) = harness.tickets()
    notes = notes_of(ticket)
    assert len(notes) == 3
    assert (
        notes[1]
        == "E-mail from Pieter Janssen <p.janssen@example-tenant.nl>:\n\nThe bucket is full now."
    )
    assert notes[2].endswith("Ook de lamp is kapot.")


def test_reply_while_the_first_mail_is_pending(tmp_path: Path) -> None:
    """A reply that arrives while the first mail is still being sent is a note, sent after
    the create: one ticket with the attachments note and then the reply."""
    slow = SandboxConfig(faults=Faults(latency_ms=300))
    with running(tmp_path, sandbox_config=slow, configure=configure_mail(tmp_path)) as h:
        first = postmark(h, fixture_bytes(COMPOSED_POSTMARK))
        reply = postmark(h, reply_to_first("reply-2@mail.example-tenant.nl", "pm-reply-2"))
        assert h.delivery(first.json()["deliveryId"]).status == "pending"
        h.wait_status(reply.json()["deliveryId"], timeout=20)
        (ticket,) = h.tickets()
        notes = notes_of(ticket)
        assert notes[0].startswith("Attachments (not forwarded)")
        assert notes[1].endswith("The bucket is full now.")


# --- refusals: nothing stored -------------------------------------------------------------


def test_postmark_refusals_are_403(harness: Harness) -> None:
    """Wrong or missing credentials and bodies that are not an inbound message are 403, the
    one answer that stops Postmark retrying; basic auth passes; nothing is stored."""
    body = fixture_bytes(COMPOSED_POSTMARK)
    assert postmark(harness, body, token="wrong").status_code == 403
    assert harness.post("postmark", body, JSON).status_code == 403
    bad = base64.b64encode(f"{POSTMARK_USER}:nope".encode()).decode()
    assert (
        harness.post("postmark", body, {**JSON, "authorization": f"Basic {bad}"}).status_code == 403
    )
    for junk in (b"[1, 2]", b"{not json", dumps({"Subject": "no sender"}), "ü".encode("latin-1")):
        response = postmark(harness, junk)
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert harness.adapter_store().list() == []
    good = base64.b64encode(f"{POSTMARK_USER}:{POSTMARK_PASSWORD}".encode()).decode()
    response = harness.post("postmark", body, {**JSON, "authorization": f"Basic {good}"})
    assert response.status_code == 200


def test_mailgun_signatures_tokens_and_retries(harness: Harness) -> None:
    """Bad, missing and stale signatures and malformed posts are 406 with nothing stored; a
    Mailgun retry (same post) is 200 duplicate; a reused token with a fresh signature and other
    fields is refused with 406: nothing new stored, the altered text never reaches Bloxs."""
    stale = mailgun_signature(timestamp=int(time.time()) - 3600)
    wrong = {**mailgun_signature(), "signature": "0" * 64}
    for signature in (stale, wrong):
        assert mailgun(harness, MAILGUN_FIELDS, signature).status_code == 406
    unsigned = multipart(MAILGUN_FIELDS)
    assert harness.post("mailgun", unsigned, {"content-type": MULTIPART}).status_code == 406
    truncated = multipart({**MAILGUN_FIELDS, **mailgun_signature()})[:-40]
    assert harness.post("mailgun", truncated, {"content-type": MULTIPART}).status_code == 406
    assert harness.adapter_store().list() == []

    signature = mailgun_signature()
    first = mailgun(harness, MAILGUN_FIELDS, signature)
    assert first.status_code == 200, first.text
    retry = mailgun(harness, MAILGUN_FIELDS, signature)
    assert retry.status_code == 200
    assert retry.json() == {"deliveryId": first.json()["deliveryId"], "duplicate": True}
    reused = {
        **mailgun_signature(token=signature["token"], timestamp=int(signature["timestamp"]) + 5)
    }
    replay = mailgun(harness, {**MAILGUN_FIELDS, "stripped-text": "Forged text"}, reused)
    assert replay.status_code == 406, replay.text
    assert replay.headers["content-type"] == "application/problem+json"
    assert "already used" in replay.json()["detail"]
    harness.wait_status(first.json()["deliveryId"])
    assert len(harness.adapter_store().list()) == 1
    (ticket,) = harness.tickets()
    assert "Forged" not in ticket["description"]


def test_sendgrid_and_parser_refusals(tmp_path: Path) -> None:
    """SendGrid: 401 without the token, 422 for malformed or non-multipart posts, 413 over the
    source's body limit (declared or streamed); e-mail parser: 401 / 422. Nothing stored."""
    configure = configure_mail(tmp_path, sendgrid={"max_body_bytes": 16 * 1024})
    with running(tmp_path, configure=configure) as h:
        good = multipart(SENDGRID_FIELDS)
        assert h.post("sendgrid", good, {"content-type": MULTIPART}).status_code == 401
        assert (
            h.post("sendgrid", good, {"content-type": MULTIPART}, {"token": "x"}).status_code == 401
        )
        for body, headers in (
            (good[:-30], {"content-type": MULTIPART}),
            (good, {"content-type": "multipart/form-data"}),
            (b"garbage without a boundary", {"content-type": MULTIPART}),
            (dumps({"from": "a@b.c"}), JSON),
            (multipart({"subject": "no sender", "text": "hi"}), {"content-type": MULTIPART}),
        ):
            response = sendgrid(h, body, headers)
            assert response.status_code == 422, (body[:60], response.text)
        big = multipart(
            SENDGRID_FIELDS, {"attachment1": ("big.bin", "application/pdf", b"x" * 20000)}
        )
        assert sendgrid(h, big).status_code == 413

        def stream() -> Iterator[bytes]:
            for start in range(0, len(big), 4096):
                yield big[start : start + 4096]

        chunked = h.http.post(
            f"{h.adapter.url}/webhooks/sendgrid?token={SENDGRID_TOKEN}",
            content=stream(),
            headers={"content-type": MULTIPART},
        )
        assert chunked.status_code == 413
        assert "content-length" not in chunked.request.headers
        parser_headers = {**JSON, "x-webhook-token": PARSER_TOKEN}
        assert h.post("mail-parser", dumps({"subject": "x"}), JSON).status_code == 401
        assert h.post("mail-parser", b"{oops", parser_headers).status_code == 422
        no_sender = dumps({"subject": "Lekkage", "body_plain": "Lekt.", "sender": {}})
        assert h.post("mail-parser", no_sender, parser_headers).status_code == 422
        assert h.adapter_store().list() == []
        assert sendgrid(h, good).status_code == 202


# --- the dry run --------------------------------------------------------------------------


def test_translate_a_mail_fixture_with_the_example_config(harness: Harness) -> None:
    """`bloxs-adapter translate` with examples/adapter.yaml turns a mail fixture into the
    create request and its attachments note, checked against the sandbox's lists."""
    fixture = REPO.parent / "shared" / "fixtures" / COMPOSED_POSTMARK
    command = [sys.executable, "-m", "adapter", "translate", "--source", "postmark"]
    command += ["--config", str(REPO / "examples" / "adapter.yaml"), str(fixture)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "BLOXS_BASE_URL": harness.sandbox.url},
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # stdout is the JSON document alone: log lines go to stderr.
    output = json.loads(result.stdout)
    assert output["outcome"] == "ok"
    create, note = output["requests"]
    assert create["body"]["externalIdentifier"] == FIRST_MESSAGE_ID
    assert create["body"]["reporterReference"] == "100003"
    assert create["body"]["realEstateObjectReference"] == "300001"
    assert create["body"]["stateName"] == "Nieuw"
    assert note["message"].startswith("Attachments (not forwarded):")
    assert harness.tickets() == []
