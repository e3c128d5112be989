"""SendGrid Inbound Parse: both modes, LF and CRLF bodies, credentials, bounded memory."""

from __future__ import annotations

import base64
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapter.errors import InvalidPayload, Unauthenticated
from adapter.settings import SourceSettings
from adapter.sources.base import Inbound
from adapter.sources.sendgrid import SendgridSource

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
CTYPE = "multipart/form-data; boundary=xYzZY"
RECEIVED = datetime(2025, 3, 14, 8, 19, tzinfo=UTC)


def make_source() -> SendgridSource:
    options = {"basic_auth": {"username": "sg", "passwords": ["pw-1"]}, "tokens": ["tok-1"]}
    settings = SourceSettings(
        name="parse", type="sendgrid", timezone=ZoneInfo("Europe/Amsterdam"), options=options
    )
    return SendgridSource(settings)


def post(body: bytes, headers: dict[str, str] | None = None, **query: str) -> Inbound:
    return Inbound(
        headers={"content-type": CTYPE, **(headers or {})},
        body=body,
        received_at=RECEIVED,
        query=query,
    )


def fixture(name: str, crlf: bool = False) -> bytes:
    data = (FIXTURES / "sendgrid" / f"sendgrid-inbound-parse-{name}.multipart.txt").read_bytes()
    return data.replace(b"\n", b"\r\n") if crlf else data


def part(name: str, value: bytes, extra: str = "") -> bytes:
    head = f'--xYzZY\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n\r\n'
    return head.encode() + value + b"\r\n"


def test_statuses() -> None:
    """SendGrid drops on 4xx, which is right for refusals: 401 and 422 stay."""
    assert (SendgridSource.unauthenticated_status, SendgridSource.invalid_status) == (401, 422)


def test_credentials() -> None:
    """Basic auth or token passes; wrong or missing credentials are refused."""
    source = make_source()
    good = base64.b64encode(b"sg:pw-1").decode()
    source.verify(post(b"", {"authorization": f"Basic {good}"}))
    source.verify(post(b"", token="tok-1"))
    source.verify(post(b"", {"x-webhook-token": "tok-1"}))
    bad = base64.b64encode(b"sg:nope").decode()
    for request in (post(b"", {"authorization": f"Basic {bad}"}), post(b"", token="x"), post(b"")):
        with pytest.raises(Unauthenticated):
            source.verify(request)


@pytest.mark.parametrize("crlf", [False, True])
def test_default_parsed_mode(crlf: bool) -> None:
    """The parsed-mode sample, with its LF line ends or as SendGrid sends it (CRLF)."""
    event = make_source().parse(post(fixture("default", crlf)))
    assert event.fields == {
        "description": "Testing non-raw\n\nHello Twilio SendGrid!",
        "reportingDate": "2016-08-11",
        "priority": 2,
    }
    assert event.reporter is not None
    assert event.reporter.keys == ("test@example.com",)
    assert event.reporter.name == "Example User"
    assert event.notes_after_create == ()
    # No Message-ID in the sample: a content hash is the external id, a body hash the key.
    assert event.external_id is not None
    assert event.external_id.startswith("mail-")
    assert event.delivery_key.startswith("sha256:")
    assert event.summary == "mail from example.com subject Testing non-raw"


@pytest.mark.parametrize("crlf", [False, True])
def test_raw_mode(crlf: bool) -> None:
    """Send Raw: the `email` part is parsed as MIME; its headers win over the form fields."""
    event = make_source().parse(post(fixture("raw", crlf)))
    assert event.fields == {
        "description": "Inbound Parse Test Raw Data\n\nHello Twilio SendGrid!",
        "reportingDate": "2016-08-10",
        "priority": 2,
    }
    assert event.notes_after_create == ()


def test_raw_mode_with_attachment() -> None:
    """The JPEG inside the raw message is listed, not kept."""
    event = make_source().parse(post(fixture("raw-with-attachments")))
    assert event.fields["description"] == (
        "Inbound Parse Test Raw Data with Attachment\n\nHello Twilio SendGrid!"
    )
    assert event.fields["reportingDate"] == "2016-08-15"
    assert event.notes_after_create == (
        "Attachments (not forwarded):\n- SendGrid.jpg (image/jpeg, 10.1 KiB)",
    )


def composed(text_part: bytes, charsets: str, attachment: bytes = b"") -> bytes:
    headers = (
        "From: Pieter Janssen <p.janssen@example-tenant.nl>\r\nSubject: Fuse box smells burnt"
        " - basement B\r\nDate: Fri, 14 Mar 2025 09:18:59 +0100\r\n"
        "Message-ID: <CAF3x9QpZ2@MAIL.example-tenant.nl>\r\nX-Priority: 1\r\n"
    )
    body = part("headers", headers.encode())
    body += part("from", b"Pieter Janssen <p.janssen@example-tenant.nl>")
    body += part("subject", b"Fuse box smells burnt - basement B")
    body += part("text", text_part)
    body += part("attachments", b"1")
    if attachment:
        body += part(
            "attachment1", attachment, '; filename="fusebox.jpg"\r\nContent-Type: image/jpeg'
        )
    body += part("charsets", charsets.encode())
    return body + b"--xYzZY--\r\n"


def test_composed_parsed_post_with_charsets() -> None:
    """The composed post: Message-ID is key and external id, X-Priority 1 is high, and the
    text part is decoded with the charset `charsets` names (windows-1252 here)."""
    text = "Hello,\r\n\r\nThere is a burnt smell – café B.\r\n\r\nPieter\r\n".encode("cp1252")
    charsets = '{"from":"UTF-8","subject":"UTF-8","text":"windows-1252"}'
    event = make_source().parse(post(composed(text, charsets, b"\xff\xd8jpeg")))
    assert event.delivery_key == "CAF3x9QpZ2@mail.example-tenant.nl"
    assert event.external_id == "CAF3x9QpZ2@mail.example-tenant.nl"
    assert event.fields == {
        "description": "Fuse box smells burnt - basement B\n\nHello,\n\n"
        "There is a burnt smell – café B.\n\nPieter",
        "reportingDate": "2025-03-14",
        "priority": 3,
    }
    assert event.notes_after_create == (
        "Attachments (not forwarded):\n- fusebox.jpg (image/jpeg, 6 bytes)",
    )


def test_large_attachment_is_not_accumulated() -> None:
    """A 20 MiB attachment part is counted, not collected: peak extra memory stays < 2 MiB."""
    attachment = b"\x00\x01\x02\x03" * (5 * 1024 * 1024)
    body = composed(b"See attachment.\r\n", '{"text":"utf-8"}', attachment)
    del attachment
    source = make_source()
    tracemalloc.start()
    try:
        event = source.parse(post(body))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024
    assert event.notes_after_create == (
        "Attachments (not forwarded):\n- fusebox.jpg (image/jpeg, 20.0 MiB)",
    )


def test_raw_mode_large_attachment_is_not_accumulated() -> None:
    """Send Raw with a 20 MiB base64 attachment: the message streams through the MIME
    reader, parsing adds less than 2 MiB to the body, and the exact size is listed."""
    size = 20 * 1024 * 1024
    message = (
        b"From: Pieter <p.janssen@example-tenant.nl>\r\nSubject: Scan\r\n"
        b'Content-Type: multipart/mixed; boundary="m1"\r\n\r\n--m1\r\n'
        b"Content-Type: text/plain\r\n\r\nZie bijlage.\r\n--m1\r\n"
        b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="scan.pdf"'
        b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    message += base64.encodebytes(bytes(range(256)) * (size // 256)) + b"--m1--\r\n"
    body = part("email", message) + b"--xYzZY--\r\n"
    del message
    source = make_source()
    tracemalloc.start()
    try:
        event = source.parse(post(body))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024
    assert event.fields["description"] == "Scan\n\nZie bijlage."
    assert event.notes_after_create == (
        "Attachments (not forwarded):\n- scan.pdf (application/pdf, 20.0 MiB)",
    )


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (fixture("default")[:500], CTYPE),
        (b"\x00garbage\xff", CTYPE),
        (fixture("default"), "multipart/form-data"),
        (fixture("default"), "application/json"),
        (part("subject", b"no sender") + b"--xYzZY--\r\n", CTYPE),
    ],
)
def test_malformed_posts(body: bytes, ctype: str) -> None:
    """Truncated, garbage, boundary-less, wrongly typed or sender-less: InvalidPayload."""
    with pytest.raises(InvalidPayload):
        make_source().parse(
            Inbound(headers={"content-type": ctype}, body=body, received_at=RECEIVED)
        )
