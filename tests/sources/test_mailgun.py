"""Mailgun inbound routes: the signature vector, replay window, key rotation, both encodings."""

from __future__ import annotations

import hashlib
import hmac
import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from adapter.errors import ConfigError, InvalidPayload, Unauthenticated
from adapter.settings import SourceSettings
from adapter.sources.base import Inbound
from adapter.sources.mailgun import MailgunSource

KEY = "mailgun-example-signing-key-not-real"
TIMESTAMP = "1741940330"
TOKEN = "c4f1e9a27b3d58e06f2a91c7d4b8e05a3f6c2d9b17e8a40f5c"
SIGNATURE = "9afdce097278f84f4f65ef7aae3c6692c3a9aef32ac91f546a9c9ec5e4acf3aa"
SIGNED_AT = datetime.fromtimestamp(int(TIMESTAMP), UTC)

# The composed route post (../shared/fixtures/composed/mailgun_inbound_form_fields.txt).
FIELDS = {
    "recipient": "meldingen@mg.acme-facilities.example",
    "sender": "bounce+7a1e.p.janssen=example-tenant.nl@mail.example-tenant.nl",
    "from": "Pieter Janssen <p.janssen@example-tenant.nl>",
    "subject": "Broken window latch, room A1.07",
    "body-plain": "Hi,\n\nThe window latch in room A1.07 is broken, the window cannot be closed "
    "and it is raining in.\n\nRegards,\nPieter\n\n> On Thu 13 Mar, Facilities wrote:\n"
    "> Ticket FAC-198 closed.",
    "stripped-text": "Hi,\n\nThe window latch in room A1.07 is broken, the window cannot be "
    "closed and it is raining in.",
    "stripped-signature": "Regards,\nPieter",
    "body-html": "<div>Hi,</div><div>The window latch in room A1.07 is broken, the window "
    "cannot be closed and it is raining in.</div><div>Regards,<br>Pieter</div>"
    "<blockquote>...</blockquote>",
    "attachment-count": "1",
    "content-id-map": "{}",
    "message-headers": json.dumps(
        [
            ["X-Envelope-From", "<p.janssen@example-tenant.nl>"],
            ["From", "Pieter Janssen <p.janssen@example-tenant.nl>"],
            ["Subject", "Broken window latch, room A1.07"],
            ["Date", "Fri, 14 Mar 2025 09:18:47 +0100"],
            ["Message-Id", "<CAF3x9QnB8uT4@mail.example-tenant.nl>"],
            ["In-Reply-To", "<20250313151002.1.AB12CD@mg.acme-facilities.example>"],
        ]
    ),
    "timestamp": TIMESTAMP,
    "token": TOKEN,
    "signature": SIGNATURE,
}
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


def make_source(keys: tuple[str, ...] = (KEY,), **options: Any) -> MailgunSource:
    settings = SourceSettings(
        name="mg",
        type="mailgun",
        timezone=ZoneInfo("Europe/Amsterdam"),
        options={"signing_keys": list(keys), **options},
    )
    return MailgunSource(settings)


def multipart(fields: dict[str, str], files: dict[str, tuple[str, str, bytes]]) -> bytes:
    out = b""
    for name, value in fields.items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        out += f"------MgBoundary7f3a\r\n{disposition}\r\n\r\n".encode()
        out += value.encode() + b"\r\n"
    for name, (filename, ctype, data) in files.items():
        out += (
            f'------MgBoundary7f3a\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'
        ).encode()
        out += data + b"\r\n"
    return out + b"------MgBoundary7f3a--\r\n"


MULTIPART_TYPE = "multipart/form-data; boundary=----MgBoundary7f3a"


def post(body: bytes, ctype: str = MULTIPART_TYPE, at: datetime = SIGNED_AT) -> Inbound:
    return Inbound(
        headers={"content-type": ctype}, body=body, received_at=at + timedelta(seconds=2)
    )


def composed() -> Inbound:
    return post(multipart(FIELDS, {"attachment-1": ("window-a107.jpg", "image/jpeg", JPEG)}))


def test_statuses_stop_mailgun_retrying() -> None:
    """Mailgun stops retrying only on 406."""
    assert (MailgunSource.invalid_status, MailgunSource.unauthenticated_status) == (406, 406)
    assert MailgunSource.default_max_body_bytes == 30 * 1024 * 1024


def test_composed_vector_verifies_and_returns_token_as_nonce() -> None:
    """The documented test vector passes; the token is the nonce the store refuses twice."""
    assert make_source().verify(composed()).nonce == TOKEN


def test_rotated_keys() -> None:
    """Any configured key may have signed: old and new keys both pass during rotation."""
    assert make_source(keys=("new-key-not-real", KEY)).verify(composed()).nonce == TOKEN
    with pytest.raises(Unauthenticated):
        make_source(keys=("new-key-not-real",)).verify(composed())


def test_bad_signature() -> None:
    """A changed signature (or one that is not hex) is refused."""
    for signature in ("0" * 64, "not-hex"):
        body = multipart({**FIELDS, "signature": signature}, {})
        with pytest.raises(Unauthenticated):
            make_source().verify(post(body))


def test_missing_signature_fields() -> None:
    """A post without timestamp/token/signature is refused."""
    fields = {k: v for k, v in FIELDS.items() if k != "signature"}
    with pytest.raises(Unauthenticated):
        make_source().verify(post(multipart(fields, {})))


def test_stale_and_future_timestamps() -> None:
    """Older than max_age_seconds or more than 5 minutes ahead is refused."""
    source = make_source(max_age_seconds=900)
    with pytest.raises(Unauthenticated, match="too old"):
        source.verify(post(multipart(FIELDS, {}), at=SIGNED_AT + timedelta(seconds=901)))
    with pytest.raises(Unauthenticated, match="future"):
        source.verify(post(multipart(FIELDS, {}), at=SIGNED_AT - timedelta(seconds=310)))
    source.verify(post(multipart(FIELDS, {}), at=SIGNED_AT + timedelta(seconds=800)))


def test_signing_key_required() -> None:
    """A Mailgun source without a signing key is a config error."""
    with pytest.raises(ConfigError):
        make_source(keys=())


def test_composed_multipart_post() -> None:
    """The composed post: stripped-text, Message-ID from message-headers, the reply thread."""
    event = make_source().parse(composed())
    assert event.kind == "create"
    assert event.delivery_key == TOKEN
    assert event.external_id == "CAF3x9QnB8uT4@mail.example-tenant.nl"
    assert event.fields == {
        "description": "Broken window latch, room A1.07\n\nHi,\n\nThe window latch in room "
        "A1.07 is broken, the window cannot be closed and it is raining in.",
        "reportingDate": "2025-03-14",
        "priority": 2,
    }
    assert event.thread_ids == ("20250313151002.1.AB12CD@mg.acme-facilities.example",)
    assert event.reporter is not None
    assert event.reporter.keys == ("p.janssen@example-tenant.nl",)
    assert event.reporter.name == "Pieter Janssen"
    assert event.notes_after_create == (
        "Attachments (not forwarded):\n- window-a107.jpg (image/jpeg, 2.0 KiB)",
    )


def test_urlencoded_post() -> None:
    """Without attachments Mailgun posts urlencoded; it maps the same way."""
    source = make_source()
    request = post(urlencode(FIELDS).encode(), "application/x-www-form-urlencoded")
    assert source.verify(request).nonce == TOKEN
    event = source.parse(request)
    assert event.external_id == "CAF3x9QnB8uT4@mail.example-tenant.nl"
    assert event.fields["description"].endswith("cannot be closed and it is raining in.")
    assert event.notes_after_create == ()


def test_body_plain_stripped_when_no_stripped_text() -> None:
    """Without stripped-text, body-plain loses the "> On … wrote:" quote."""
    fields = {k: v for k, v in FIELDS.items() if k != "stripped-text"}
    event = make_source().parse(post(multipart(fields, {})))
    assert event.fields["description"] == (
        "Broken window latch, room A1.07\n\nHi,\n\nThe window latch in room A1.07 is broken, "
        "the window cannot be closed and it is raining in.\n\nRegards,\nPieter"
    )


def test_raw_mime_route() -> None:
    """A "mime" route posts body-mime: parsed with the e-mail package, latin-1 subject."""
    message = EmailMessage()
    message["From"] = "=?iso-8859-1?q?Jos=E9_M=FCller?= <jose@example.nl>"
    message["Subject"] = "=?iso-8859-1?q?Lekkage_caf=E9?= object LL12"
    message["Message-ID"] = "<raw-1@Example.NL>"
    message["Date"] = "Sat, 15 Mar 2025 00:30:00 +0100"
    message.set_content("Het café lekt.\n", charset="iso-8859-1", cte="quoted-printable")
    fields = {
        "body-mime": message.as_string(),
        "timestamp": TIMESTAMP,
        "token": TOKEN,
        "signature": SIGNATURE,
    }
    event = make_source().parse(
        post(urlencode(fields).encode(), "application/x-www-form-urlencoded")
    )
    assert event.external_id == "raw-1@example.nl"
    assert event.fields["description"] == "Lekkage café object LL12\n\nHet café lekt."
    assert event.fields["reportingDate"] == "2025-03-15"
    assert event.object_keys == ("LL12",)
    assert event.reporter is not None
    assert event.reporter.name == "José Müller"


def mime_with_attachment(attachment: bytes) -> str:
    message = EmailMessage()
    message["From"] = "Jos <jose@example.nl>"
    message["Subject"] = "Scan van de meterkast"
    message["Message-ID"] = "<raw-2@example.nl>"
    message.set_content("Zie de scan: 100% duidelijk & = gevaarlijk.\n")
    message.add_attachment(attachment, maintype="application", subtype="pdf", filename="scan.pdf")
    return message.as_string()


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
def test_body_mime_with_attachment_in_either_encoding(encoding: str) -> None:
    """body-mime streams into the MIME reader from a multipart or a urlencoded post (escapes
    cut across parse chunks): text intact, the attachment listed with its decoded size."""
    attachment = bytes(range(256)) * 1024  # 256 KiB: its base64 spans several 64 KiB chunks
    fields = {"body-mime": mime_with_attachment(attachment), **signature_fields()}
    if encoding == "multipart":
        request = post(multipart(fields, {}))
    else:
        request = post(urlencode(fields).encode(), "application/x-www-form-urlencoded")
    make_source().verify(request)
    event = make_source().parse(request)
    assert event.external_id == "raw-2@example.nl"
    assert event.fields["description"] == (
        "Scan van de meterkast\n\nZie de scan: 100% duidelijk & = gevaarlijk."
    )
    assert event.notes_after_create == (
        "Attachments (not forwarded):\n- scan.pdf (application/pdf, 256.0 KiB)",
    )


def test_urlencoded_body_mime_escapes_cut_between_chunks() -> None:
    """A urlencoded body-mime whose every character is an escape (so the 64 KiB parse chunks
    cut escapes in two) arrives intact: the full text note is the text that was sent."""
    text = "Café € ñ ü. " * 9000  # > 100 KiB once quoted-printable and urlencoded
    message = EmailMessage()
    message["From"] = "jose@example.nl"
    message["Subject"] = "Lang"
    message.set_content(text, cte="quoted-printable")
    fields = {"body-mime": message.as_string(), **signature_fields()}
    body = urlencode(fields).encode()
    assert len(body) > 2 * 64 * 1024
    event = make_source().parse(post(body, "application/x-www-form-urlencoded"))
    assert event.notes_after_create == ("Lang\n\n" + text.strip(),)


def test_large_urlencoded_body_mime_is_not_accumulated() -> None:
    """A urlencoded body-mime with an 8 MiB attachment is unquoted and read in passing:
    parsing adds less than 2 MiB to the body already in memory."""
    fields = {"body-mime": mime_with_attachment(bytes(8 * 1024 * 1024)), **signature_fields()}
    body = urlencode(fields).encode()
    del fields
    source = make_source()
    tracemalloc.start()
    try:
        event = source.parse(post(body, "application/x-www-form-urlencoded"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024
    assert event.notes_after_create == (
        "Attachments (not forwarded):\n- scan.pdf (application/pdf, 8.0 MiB)",
    )


def signature_fields() -> dict[str, str]:
    return {"timestamp": TIMESTAMP, "token": TOKEN, "signature": SIGNATURE}


def test_tracking_and_store_posts_are_the_wrong_kind() -> None:
    """Tracking webhooks (JSON) and store(notify) posts are refused as the wrong kind (406)."""
    tracking = json.dumps(
        {
            "signature": {"timestamp": TIMESTAMP, "token": TOKEN, "signature": SIGNATURE},
            "event-data": {"event": "delivered"},
        }
    ).encode()
    request = post(tracking, "application/json")
    make_source().verify(request)
    with pytest.raises(InvalidPayload, match="tracking"):
        make_source().parse(request)
    store = {**FIELDS, "message-url": "https://storage.mailgun.net/v3/x", "attachments": "[]"}
    with pytest.raises(InvalidPayload, match="store"):
        make_source().parse(post(urlencode(store).encode(), "application/x-www-form-urlencoded"))


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (
            b'------MgBoundary7f3a\r\nContent-Disposition: form-data; name="from"\r\n\r\nx',
            MULTIPART_TYPE,
        ),
        (b"garbage", MULTIPART_TYPE),
        (b"anything", "multipart/form-data"),
        (b"subject=only", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_posts(body: bytes, ctype: str) -> None:
    """Truncated, garbage, boundary-less or sender-less posts are InvalidPayload, and the
    signature check refuses them instead of crashing."""
    with pytest.raises(InvalidPayload):
        make_source().parse(post(body, ctype))
    with pytest.raises(Unauthenticated):
        make_source().verify(post(body, ctype))


def test_signature_vector_is_what_the_docs_say() -> None:
    """The test vector is hex HMAC-SHA256(key, timestamp + token)."""
    expected = hmac.new(KEY.encode(), (TIMESTAMP + TOKEN).encode(), hashlib.sha256).hexdigest()
    assert expected == SIGNATURE
