"""The streaming MIME reader: what the standard library's parser gives for the same bytes,
from chunks of any size, with attachments counted and never held."""

from __future__ import annotations

import base64
import tracemalloc
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import compat32

import pytest

from adapter import mail
from adapter.mime import MimeReader

CHUNK = 64 * 1024


def streamed(raw: bytes, chunk: int = CHUNK) -> mail.IncomingMail:
    reader = MimeReader()
    for start in range(0, len(raw), chunk):
        reader.feed(raw[start : start + chunk])
    return reader.mail(delivery_key="k")


def stdlib(raw: bytes) -> mail.IncomingMail:
    message = BytesParser(policy=compat32).parsebytes(raw)
    return mail.mail_from_message(message, delivery_key="k")


def attachments(raw: bytes) -> list[tuple[str, str, int]]:
    return [(a.name, a.content_type, a.size) for a in streamed(raw).attachments]


def rich_message(pdf_size: int = 10240) -> bytes:
    """multipart/mixed > (alternative > plain, related > html + inline image), attachments."""
    message = EmailMessage()
    message["From"] = "=?utf-8?q?Zo=C3=AB_=C3=9Cnal?= <zoe@voorbeeld.nl>"
    message["Subject"] = "Lekkage [KS5A]"
    message["Message-ID"] = "<rich-1@voorbeeld.nl>"
    message.set_content("De kraan lekt, café.\n", charset="iso-8859-1", cte="quoted-printable")
    message.add_alternative("<p>De kraan <b>lekt</b>.</p>", subtype="html")
    html = message.get_payload()[1]  # type: ignore[index]
    html.add_related(b"\x89PNG" + bytes(300), maintype="image", subtype="png", cid="<img1>")
    message.add_attachment(
        bytes(range(256)) * (pdf_size // 256),
        maintype="application",
        subtype="pdf",
        filename="rapport.pdf",
    )
    message.add_attachment("regel\n" * 30, filename="log.txt", cte="quoted-printable")
    return message.as_bytes()


def test_nested_multiparts_give_text_html_and_attachments() -> None:
    """Nested alternative/related parts: first plain and html decoded, attachments listed
    with their decoded sizes, exactly as the standard library reads them."""
    raw = rich_message()
    incoming = streamed(raw)
    assert incoming.sender == "zoe@voorbeeld.nl"
    assert incoming.sender_name == "Zoë Ünal"
    assert incoming.text == "De kraan lekt, café.\n"
    assert incoming.html == "<p>De kraan <b>lekt</b>.</p>\n"
    assert [(a.name, a.size) for a in incoming.attachments] == [
        ("rapport.pdf", 10240),
        ("log.txt", 180),
    ]
    assert incoming == stdlib(raw)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 100, CHUNK])
def test_chunk_size_does_not_matter(chunk: int) -> None:
    """Boundaries and line breaks cut between any two chunks give the same mail."""
    raw = rich_message()
    assert streamed(raw, chunk) == stdlib(raw)
    crlf = raw.replace(b"\n", b"\r\n")
    assert streamed(crlf, chunk) == stdlib(crlf)


def part(headers: str, body: bytes) -> bytes:
    return b"--b1\r\n" + headers.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body + b"\r\n"


def mixed(*parts: bytes, boundary: str = 'boundary="b1"') -> bytes:
    head = f"From: a@example.nl\r\nSubject: s\r\nContent-Type: multipart/mixed; {boundary}\r\n\r\n"
    return head.encode() + b"preamble\r\n" + b"".join(parts) + b"--b1--\r\nepilogue\r\n"


def test_transfer_encodings_of_text_and_attachments() -> None:
    """base64, quoted-printable and 8bit text bodies decode with their charset; attachment
    sizes are the decoded sizes for base64, quoted-printable, 8bit and 7bit."""
    data = bytes(range(256)) * 5
    raw = mixed(
        part(
            "Content-Type: text/plain; charset=windows-1252\nContent-Transfer-Encoding: base64",
            base64.encodebytes("Prijs: 12 €".encode("cp1252")),
        ),
        part(
            "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit",
            "<p>café</p>".encode(),
        ),
        part(
            'Content-Disposition: attachment; filename="a.bin"\nContent-Transfer-Encoding: base64',
            base64.encodebytes(data),
        ),
        part(
            "Content-Disposition: attachment; filename=q.txt\n"
            "Content-Transfer-Encoding: quoted-printable",
            b"a=3Db=\r\nc=0D=0A",
        ),
        part(
            "Content-Disposition: attachment; filename=e.bin\nContent-Transfer-Encoding: 8bit",
            b"\x00\xff\r\n\x80",
        ),
        part("Content-Type: text/csv; name=plain.csv", b"a;b\r\n1;2"),
    )
    incoming = streamed(raw)
    assert (incoming.text, incoming.html) == ("Prijs: 12 €", "<p>café</p>")
    assert [(a.name, a.size) for a in incoming.attachments] == [
        ("a.bin", len(data)),
        ("q.txt", len(b"a=bc\r\n")),
        ("e.bin", 5),
        ("plain.csv", 8),
    ]
    assert incoming == stdlib(raw)


@pytest.mark.parametrize(
    "encoded",
    [
        b"QUJD\r\nRA==\r\n",  # padded
        b"QUJDRA",  # padding missing
        b"QUJD RA=\r\n",  # a blank inside, one "=" short
        b"@@not base64!!\r\nQUJD",  # characters outside the alphabet
        b"QQ==QUJD",  # data after the padding
        b"QUJDR",  # one character too many: kept undecoded
        b"",
    ],
)
def test_broken_base64_sizes_match_the_standard_library(encoded: bytes) -> None:
    """A base64 attachment's size is what get_payload(decode=True) would give, broken or not."""
    raw = mixed(
        part(
            "Content-Disposition: attachment; filename=x\nContent-Transfer-Encoding: base64",
            encoded,
        )
    )
    assert streamed(raw).attachments == stdlib(raw).attachments


def test_rfc2231_and_rfc2047_file_names() -> None:
    """File names in RFC 2231 (with charset and continuations) and RFC 2047 form decode; an
    encoded word with a charset name that is not even ASCII does not raise."""
    raw = mixed(
        part("Content-Disposition: attachment; filename*=iso-8859-1''caf%E9%20plan.pdf", b"x"),
        part(
            "Content-Disposition: attachment;\n filename*0*=utf-8''r%C3%A9;\n filename*1=sum.doc",
            b"xy",
        ),
        part('Content-Type: image/jpeg; name="=?utf-8?q?f=C3=B6to.jpg?="', b"xyz"),
        part("Content-Disposition: attachment", b"nameless"),
        b'--b1\r\nContent-Disposition: attachment; filename="=?utf\xff8?q?x?="\r\n\r\n4444\r\n',
    )
    assert attachments(raw) == [
        ("café plan.pdf", "text/plain", 1),
        ("résum.doc", "text/plain", 2),
        ("föto.jpg", "image/jpeg", 3),
        ("unnamed", "text/plain", 8),
        ("x", "text/plain", 4),
    ]
    assert streamed(raw) == stdlib(raw)


@pytest.mark.parametrize(
    "boundary",
    ["", 'boundary=""', 'boundary="other"', "boundary=b1; charset=x"],
    ids=["missing", "empty", "never-used", "with-params"],
)
def test_missing_or_unused_boundary(boundary: str) -> None:
    """A multipart without a usable boundary gives no parts instead of an error; the headers
    still give sender and subject."""
    raw = mixed(part("Content-Type: text/plain", b"tekst"), boundary=boundary)
    incoming = streamed(raw)
    assert incoming.sender == "a@example.nl"
    assert incoming == stdlib(raw)
    assert (incoming.text is None) == (boundary != "boundary=b1; charset=x")


def test_truncated_anywhere() -> None:
    """A message cut off at any byte still reads, and as the standard library reads it."""
    raw = rich_message(pdf_size=256)
    for cut in range(len(raw)):
        assert streamed(raw[:cut], 13) == stdlib(raw[:cut]), cut
    crlf = raw.replace(b"\n", b"\r\n")
    for cut in range(0, len(crlf), 3):
        assert streamed(crlf[:cut], 64) == stdlib(crlf[:cut]), cut


def test_odd_structure() -> None:
    """Repeated boundary lines, a part without a blank line, blanks after a boundary, an
    inner multipart closed by the outer boundary, an inner multipart with the outer one's
    boundary, no blank line after the headers: as the standard library reads them."""
    samples = [
        b"From: a@x.nl\nContent-Type: multipart/mixed; boundary=o\n\n--o\n--o\n--o--\nafter\n"
        b"--o\nContent-Type: text/html\n\n<b>x</b>\n--o--",
        b"From: a@x.nl\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: text/plain"
        b"\n--o \t\nContent-Type: text/html\n\n<i>h</i>\n--o--\n",
        b"From: a@x.nl\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: "
        b"multipart/alternative; boundary=i\n\n--i\nContent-Type: text/plain\n\ninner\n--o\n"
        b"Content-Type: image/png; name=x.png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n"
        b"--o--\n",
        b"From: a@x.nl\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: "
        b"multipart/alternative; boundary=o\n\n--o\nContent-Type: text/plain\n\nA\n--o--\n"
        b"--o\nContent-Disposition: attachment; filename=z\n\nzz\n--o--\n",
        b"From: a@x.nl\nthis line is no header\nso the body starts here\n",
        b"From: a@x.nl\nContent-Type: multipart/digest; boundary=d\n\n--d\n\nFrom: c@x.nl\n\n"
        b"in\n--d--",
        b"",
    ]
    for raw in samples:
        assert streamed(raw, 5) == stdlib(raw), raw


def test_forwarded_message_is_read_as_a_message() -> None:
    """A message/rfc822 part is walked like the standard library walks it: its attachments
    are listed, its text is not the outer text."""
    inner = EmailMessage()
    inner["From"] = "b@example.nl"
    inner["Subject"] = "Oud"
    inner.set_content("oude tekst")
    inner.add_attachment(b"z" * 999, maintype="application", subtype="zip", filename="i.zip")
    outer = EmailMessage()
    outer["From"] = "a@example.nl"
    outer["Subject"] = "Fwd: Oud"
    outer.set_content("zie bijlage")
    outer.add_attachment(inner)
    raw = outer.as_bytes()
    incoming = streamed(raw, 10)
    assert incoming.text == "zie bijlage\n"
    assert [(a.name, a.size) for a in incoming.attachments] == [("i.zip", 999)]
    assert incoming == stdlib(raw)


def test_large_attachment_is_counted_not_held() -> None:
    """A 20 MiB attachment (27 MiB of base64) fed in 64 KiB chunks is counted exactly while
    the reader's peak memory stays under 1 MiB."""
    size = 20 * 1024 * 1024
    encoded = base64.encodebytes(bytes(range(256)) * (size // 256))
    head = (
        b"From: a@example.nl\r\nSubject: scan\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
        b"--b1\r\nContent-Type: text/plain\r\n\r\nZie bijlage.\r\n--b1\r\n"
        b'Content-Type: application/pdf; name="scan.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    raw = head + encoded + b"\r\n--b1--\r\n"
    del encoded
    view = memoryview(raw)
    reader = MimeReader()
    tracemalloc.start()
    try:
        for start in range(0, len(raw), CHUNK):
            reader.feed(bytes(view[start : start + CHUNK]))
        incoming = reader.mail(delivery_key="k")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024
    assert incoming.text == "Zie bijlage."
    assert incoming.attachments == (mail.Attachment("scan.pdf", "application/pdf", size),)
