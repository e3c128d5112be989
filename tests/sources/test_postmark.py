"""Postmark inbound webhook: credentials, and every Postmark fixture mapped to its Event."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapter.errors import ConfigError, InvalidPayload, Unauthenticated
from adapter.settings import SourceSettings
from adapter.sources.base import Inbound
from adapter.sources.postmark import PostmarkSource

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
RECEIVED = datetime(2025, 3, 14, 8, 19, tzinfo=UTC)


def make_source(insecure: bool = False, **options: Any) -> PostmarkSource:
    if not options and not insecure:
        options = {"basic_auth": {"username": "postmark", "passwords": ["old-pw", "new-pw"]}}
    settings = SourceSettings(
        name="mailbox",
        type="postmark",
        timezone=ZoneInfo("Europe/Amsterdam"),
        insecure=insecure,
        options=options,
    )
    return PostmarkSource(settings)


def inbound(body: bytes, headers: dict[str, str] | None = None, **query: str) -> Inbound:
    return Inbound(
        headers={"content-type": "application/json", **(headers or {})},
        body=body,
        received_at=RECEIVED,
        query=query,
    )


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def test_statuses_stop_postmark_retrying() -> None:
    """Postmark only stops retrying on 403, so both refusals answer 403."""
    assert PostmarkSource.invalid_status == 403
    assert PostmarkSource.unauthenticated_status == 403
    assert PostmarkSource.default_max_body_bytes == 50 * 1024 * 1024


@pytest.mark.parametrize("password", ["old-pw", "new-pw"])
def test_basic_auth_accepts_every_configured_password(password: str) -> None:
    """Either password of a rotation passes."""
    make_source().verify(inbound(b"{}", basic("postmark", password)))


@pytest.mark.parametrize(
    "headers",
    [{}, basic("postmark", "wrong"), basic("other", "old-pw"), {"authorization": "Basic !!"}],
)
def test_basic_auth_refuses_missing_or_wrong(headers: dict[str, str]) -> None:
    """No, a wrong or a malformed Authorization header is refused."""
    with pytest.raises(Unauthenticated):
        make_source().verify(inbound(b"{}", headers))


def test_token_in_query_or_header() -> None:
    """A configured token passes in the query parameter or the header; others do not."""
    source = make_source(tokens=["s3cret-token"])
    source.verify(inbound(b"{}", token="s3cret-token"))
    source.verify(inbound(b"{}", {"x-webhook-token": "s3cret-token"}))
    for bad in (inbound(b"{}", token="nope"), inbound(b"{}")):
        with pytest.raises(Unauthenticated):
            source.verify(bad)


def test_credentials_required_unless_insecure() -> None:
    """A source without any credential is a config error, unless marked insecure."""
    with pytest.raises(ConfigError):
        make_source(object_patterns=[])
    make_source(insecure=True).verify(inbound(b"{}"))


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"Subject": "no sender"}', b"\xff\xfe"])
def test_not_an_inbound_message(body: bytes) -> None:
    """Bodies that are not Postmark's shape are InvalidPayload (answered 403)."""
    with pytest.raises(InvalidPayload):
        make_source().parse(inbound(body))


def parse(name: str) -> Any:
    return make_source().parse(inbound((FIXTURES / name).read_bytes()))


def test_composed_inbound() -> None:
    """The composed mail: RFC Message-ID, X-Priority 1, phone and attachment note."""
    event = parse("composed/postmark_inbound.json")
    assert event.kind == "create"
    assert event.source == "mailbox"
    assert event.delivery_key == "e7a4c2b0-3f1d-4b9a-9c61-2d5f7a8b1e03"
    assert event.external_id == "CAF3x9Qm7Lr2Jv0@mail.example-tenant.nl"
    assert event.fields == {
        "description": "Water leaking from ceiling in canteen\n\nHello,\n\nSince this morning "
        "water is dripping from the ceiling tiles above the coffee machine in the ground-floor "
        "canteen (building A). We put a bucket under it.\n\nPhoto attached.\n\nKind regards,\n"
        "Pieter Janssen\nExample Tenant B.V. | +31 30 123 4567",
        "reportingDate": "2025-03-14",
        "priority": 3,
    }
    assert event.reporter is not None
    assert event.reporter.keys == ("p.janssen@example-tenant.nl",)
    assert event.reporter.name == "Pieter Janssen"
    assert event.reporter.phone == "+31 30 123 4567"
    assert event.notes_after_create == (
        "Attachments (not forwarded):\n- ceiling-canteen.jpg (image/jpeg, 24 bytes)",
    )
    assert event.thread_ids == ()
    assert event.note is not None
    assert event.note.startswith("E-mail from Pieter Janssen <p.janssen@example-tenant.nl>:\n\n")
    assert (
        event.summary == "mail from example-tenant.nl subject Water leaking from ceiling in canteen"
    )
    assert "@" not in event.summary


@pytest.mark.parametrize(
    ("name", "date"),
    [
        ("postmark/anymail-postmark-test-payload-2023.json", "2023-05-05"),
        ("postmark/anymail-postmark-test-payload-with-rawemail-2023.json", "2023-05-05"),
        ("postmark/postmark-test-payload-2014-two-attachments.json", "2014-08-01"),
    ],
)
def test_check_button_payloads_prefer_stripped_reply(name: str, date: str) -> None:
    """Postmark's test posts: StrippedTextReply wins over TextBody; no Message-ID header,
    so Postmark's MessageID is the external id."""
    event = parse(name)
    data = json.loads((FIXTURES / name).read_text())
    assert event.external_id == data["MessageID"]
    assert event.delivery_key == data["MessageID"]
    assert event.fields == {
        "description": "Test subject\n\nThis is the reply text",
        "reportingDate": date,
        "priority": 2,
    }
    assert event.reporter is not None
    assert event.reporter.email == "support@postmarkapp.com"
    assert event.reporter.name == "Postmarkapp Support"
    expected = ["- test.txt (text/plain, 45 bytes)"]
    if "two-attachments" in name:
        expected.append("- second_attachment.txt (text/plain, 45 bytes)")
    assert event.notes_after_create == ("Attachments (not forwarded):\n" + "\n".join(expected),)


def test_2012_payload_with_png_attachments() -> None:
    """The old format without MailboxHash: Message-ID from Headers, two PNG attachments."""
    event = parse("postmark/postmark-inbound-2012-png-attachments.json")
    assert event.external_id == "CAGXpo2WKfxHWZ5UFYCR3H_J9SNMG+5AXUovfEFL6DjWBJSyZaA@mail.gmail.com"
    assert event.delivery_key == "a8c1040e-db1c-4e18-ac79-bc5f64c7ce2c"
    assert event.fields["description"] == "Hi There\n\nThis is awesome!"
    assert event.fields["reportingDate"] == "2012-04-05"
    assert event.reporter is not None
    assert (event.reporter.keys, event.reporter.name) == (("bob@bob.com",), "Bob Bobson")
    assert event.notes_after_create == (
        "Attachments (not forwarded):\n- chart.png (image/png, 2.0 KiB)\n"
        "- chart2.png (image/png, 1000 bytes)",
    )


def test_inline_contentid_payload_uses_fromfull() -> None:
    """FromFull is the reporter (not From); the stripped reply is the text."""
    event = parse("postmark/postmark-inbound-inline-contentid.json")
    assert event.external_id == "test-message-id@mail.example.com"
    assert event.fields["description"] == (
        "Postmark inbound message test\n\nOkay, thank you for testing this inbound message!"
    )
    assert event.fields["reportingDate"] == "2017-09-06"
    assert event.reporter is not None
    assert event.reporter.email == "john@example.com"
    assert event.notes_after_create == (
        "Attachments (not forwarded):\n- myimage.png (image/png, 4.0 KiB)\n"
        "- test.txt (plain/text, 8 bytes)",
    )


def test_reply_becomes_thread_of_the_original() -> None:
    """In-Reply-To and References become thread ids, newest first."""
    data = json.loads((FIXTURES / "composed/postmark_inbound.json").read_text())
    data["Headers"] += [
        {"Name": "In-Reply-To", "Value": "<Second@Mg.Example>"},
        {"Name": "References", "Value": "<first@mg.example> <Second@Mg.Example>"},
    ]
    data["Subject"] = "Re: [ticket:SR-12] Water leaking"
    event = make_source().parse(inbound(json.dumps(data).encode()))
    assert event.thread_ids == ("Second@mg.example", "first@mg.example", "SR-12")


def test_html_only_mail() -> None:
    """A mail with only an HTML body gets readable text as description."""
    data = json.loads((FIXTURES / "composed/postmark_inbound.json").read_text())
    data["TextBody"] = ""
    event = make_source().parse(inbound(json.dumps(data).encode()))
    assert event.fields["description"].startswith(
        "Water leaking from ceiling in canteen\n\nHello,\n\nSince this morning water"
    )
    assert "<" not in event.fields["description"]
    assert event.fields["description"].endswith(
        "Kind regards,\nPieter Janssen\nExample Tenant B.V. | +31 30 123 4567"
    )
