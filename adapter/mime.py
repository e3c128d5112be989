"""A whole e-mail message read as it streams past: the raw message of SendGrid "Send Raw" and
Mailgun body-mime posts, attachments and all.

email.feedparser keeps every line of a message as a string, and decoding an attachment to
learn its size copies it once more: a 30 MiB raw post peaked at 6.5 times its size. This
reader holds the message only in passing, in the chunks the form parser hands over, and
gives what `mail.mail_from_message` gives for the same bytes:

- every header block goes through the standard library's header parser (policy compat32),
  so headers, content types and RFC 2231/2047 file names read exactly as before;
- parts are split where email.feedparser splits them (RFC 2046 §5.1.1): at a line
  "--boundary" or "--boundary--", blanks allowed after it, of this multipart or of one around
  it (the outer one wins); the line break before it belongs to the boundary; preamble,
  epilogue and repeated boundary lines are skipped; message/rfc822 parts are read as the
  messages they are, parts of a multipart/digest default to message/rfc822;
- the first text/plain and the first text/html body are kept and decoded (`mail.part_text`);
- an attachment's body is only counted: its decoded size is worked out as it streams past.

Malformed input never raises: a multipart whose boundary never comes gives no parts, one that
is never closed ends with the input, an overlong header block ends at HEADER_LIMIT. Where
this differs from email.feedparser, only on broken input: a lone CR does not end a line here;
a multipart with a file name whose boundary never comes is not listed as an attachment; a
message/delivery-status block that is not a header block is not taken as the text.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from adapter import mail

# A header block is a few KiB; one this long is cut off and the rest read as body.
HEADER_LIMIT = 1024 * 1024
# How far past "--boundary" a line may run and still be a boundary line (trailing blanks).
BOUNDARY_SLACK = 1024
_HEADER_LINE = re.compile(rb"From |[\041-\071\073-\176]*:|[\t ]")  # email.feedparser.headerRE
_PADS = re.compile(rb"=+")
_NOT_BASE64 = bytes(
    c
    for c in range(256)
    if c not in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
)
_CR = 13
_PREAMBLE, _PARTS, _DONE = range(3)


class _Body:
    """Where a body's bytes go; this one drops them (preambles, epilogues, unused parts)."""

    def write(self, data: bytes) -> None:
        pass

    def end(self) -> None:
        pass


class _Text(_Body):
    """The first text/plain or text/html body: collected, decoded at its end."""

    def __init__(self, reader: MimeReader, headers: Message, kind: str) -> None:
        self.reader = reader
        self.headers = headers
        self.kind = kind
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.chunks.append(data)

    def end(self) -> None:
        # The feed parser reads bytes as ASCII with surrogate escapes; get_payload(decode=True)
        # turns them back into the same bytes before undoing the transfer encoding.
        self.headers.set_payload(b"".join(self.chunks).decode("ascii", "surrogateescape"))
        self.chunks = []
        self.reader.texts[self.kind] = mail.part_text(self.headers)


class _Size(_Body):
    """An attachment: named, typed, and its bytes counted (no transfer encoding to undo)."""

    def __init__(self, reader: MimeReader, name: str, content_type: str) -> None:
        self.reader = reader
        self.name = name
        self.content_type = content_type
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)

    def decoded_size(self) -> int:
        return self.size

    def end(self) -> None:
        attachment = mail.Attachment(self.name, self.content_type, self.decoded_size())
        self.reader.attachments.append(attachment)


class _Base64Size(_Size):
    """The size binascii would decode, as get_payload(decode=True) calls it: characters
    outside the alphabet are skipped, "=" ends the data once it completes a group of four
    (earlier ones are ignored), and data that cannot be decoded at all is kept as it is."""

    def __init__(self, reader: MimeReader, name: str, content_type: str) -> None:
        super().__init__(reader, name, content_type)
        self.position = 0  # base64 characters into the current group of four
        self.pads = 0
        self.done = False
        self.raw = 0  # bytes other than line breaks: the size when nothing decodes

    def write(self, data: bytes) -> None:
        if self.done:
            return
        self.raw += len(data) - data.count(b"\r") - data.count(b"\n")
        clean = data.translate(None, _NOT_BASE64)
        index, length = 0, len(clean)
        while index < length:
            pad = clean.find(b"=", index)
            run = (length if pad == -1 else pad) - index
            if run:
                total = self.position + run
                self.size += _decoded(total) - _decoded(self.position)
                self.position = total % 4
                self.pads = 0
            if pad == -1:
                return
            if self.position >= 2:
                self.pads += 1
                if self.position + self.pads >= 4:
                    self.done = True
                    return
                index = pad + 1
            else:
                found = _PADS.match(clean, pad)
                index = found.end() if found else pad + 1

    def decoded_size(self) -> int:
        if self.done or self.position != 1:
            return self.size
        return self.raw


def _decoded(characters: int) -> int:
    return characters // 4 * 3 + max(0, characters % 4 - 1)


class _QuotedPrintableSize(_Size):
    """The length of binascii.a2b_qp (what quopri.decodestring runs) over the body, decoded
    a line at a time: an escape or soft line break never spans a line end."""

    def __init__(self, reader: MimeReader, name: str, content_type: str) -> None:
        super().__init__(reader, name, content_type)
        self.carry = b""

    def write(self, data: bytes) -> None:
        data = self.carry + data
        cut = data.rfind(b"\n") + 1
        if not cut and len(data) > HEADER_LIMIT:
            # An endless line: cut it where no "=" is among the two bytes before the cut.
            cut = len(data) - 2
            while cut > len(data) - 64 and b"=" in data[cut - 2 : cut]:
                cut -= 1
        self.size += len(binascii.a2b_qp(data[:cut]))
        self.carry = data[cut:]

    def end(self) -> None:
        self.size += len(binascii.a2b_qp(self.carry))
        self.carry = b""
        super().end()


class _StdlibSize(_Size):
    """uuencoded attachments (rare in MIME): collected and decoded by the standard library."""

    def __init__(self, reader: MimeReader, headers: Message, name: str) -> None:
        super().__init__(reader, name, headers.get_content_type())
        self.headers = headers
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.chunks.append(data)

    def decoded_size(self) -> int:
        self.headers.set_payload(b"".join(self.chunks).decode("ascii", "surrogateescape"))
        self.chunks = []
        payload = self.headers.get_payload(decode=True)
        return len(payload) if isinstance(payload, bytes) else 0


@dataclass(eq=False)
class _Multipart:
    """A multipart being read, known by its boundary line."""

    line: re.Pattern[bytes]
    width: int
    digest: bool
    stage: int = _PREAMBLE


class MimeReader:
    """`feed` the message in chunks as they arrive, then `mail()` for the IncomingMail."""

    def __init__(self) -> None:
        self.fed = False
        self.texts: dict[str, str] = {}
        self.attachments: list[mail.Attachment] = []
        self._buffer = bytearray()
        self._multiparts: list[_Multipart] = []
        # The lines of the header block being read; None while a body is being read.
        self._header_lines: list[bytes] | None = []
        self._header_size = 0
        self._default_type = "text/plain"
        self._repeat: _Multipart | None = None
        self._body = _Body()
        self._line_start = True
        self._top: Message | None = None
        self._claimed: set[str] = set()
        self._ended = False

    def feed(self, data: bytes) -> None:
        self.fed = True
        self._buffer += data
        self._run(final=False)

    def mail(
        self, *, delivery_key: str, extra_attachments: Iterable[mail.Attachment] = ()
    ) -> mail.IncomingMail:
        if not self._ended:
            self._ended = True
            self._run(final=True)
            self._end_entity()
        return mail.mail_from_headers(
            self._top or Message(),
            delivery_key=delivery_key,
            text=self.texts.get("text/plain"),
            html=self.texts.get("text/html"),
            attachments=[*extra_attachments, *self.attachments],
        )

    # --- the scanner ------------------------------------------------------------------------

    def _run(self, *, final: bool) -> None:
        buffer = self._buffer
        position = 0
        while position < len(buffer):
            if self._header_lines is not None:
                step = self._header_step(buffer, position, final)
            else:
                step = self._body_step(buffer, position, final)
            if step is None:
                break
            position = step
        del buffer[:position]

    def _header_step(self, buffer: bytearray, position: int, final: bool) -> int | None:
        end = buffer.find(b"\n", position)
        if end == -1:
            if not final and len(buffer) - position + self._header_size <= HEADER_LIMIT:
                return None
            end = len(buffer) - 1
        line = bytes(buffer[position : end + 1])
        found = self._boundary(line)
        if found is not None:
            multipart, close = found
            # email.feedparser skips boundary lines that follow a boundary line.
            if multipart is not self._repeat:
                self._end_entity()
                self._at_boundary(multipart, close)
            return end + 1
        self._repeat = None
        assert self._header_lines is not None
        if _HEADER_LINE.match(line):
            self._header_lines.append(line)
            self._header_size += len(line)
            if self._header_size > HEADER_LIMIT:
                self._start_entity()
            return end + 1
        self._start_entity()
        if line.startswith(b"\r\n"):
            return position + 2
        if line.startswith((b"\n", b"\r")):
            return position + 1
        return position  # no blank line: this line is the first of the body

    def _body_step(self, buffer: bytearray, position: int, final: bool) -> int | None:
        size = len(buffer)
        if not any(m.stage != _DONE for m in self._multiparts):
            self._write(buffer, position, size)
            return size
        scan = position
        while True:
            if self._line_start:
                start, separator = scan, 0
                head = bytes(buffer[start : start + 2])
                if head != b"--":
                    if not final and b"--".startswith(head):
                        return None
                    self._line_start = False
                    continue
            else:
                found = buffer.find(b"\n--", scan)
                if found == -1 and final:
                    # email.feedparser drops the line break that ends a part even when the
                    # input, not a boundary, ends it.
                    self._write(buffer, position, _without_line_break(buffer, position))
                    return size
                if found == -1:
                    keep = _keep(buffer, position)
                    self._write(buffer, position, keep)
                    return keep if keep > position else None
                start = found + 1
                separator = 2 if found > position and buffer[found - 1] == _CR else 1
            end = buffer.find(b"\n", start)
            if end == -1 and final:
                end = size - 1
            elif end == -1 and size - start <= self._width():
                keep = start - separator  # wait for the rest of the line
                self._write(buffer, position, keep)
                return keep if keep > position else None
            boundary = None if end == -1 else self._boundary(bytes(buffer[start : end + 1]))
            if boundary is None:
                self._line_start = False
                scan = start
                continue
            self._write(buffer, position, start - separator)
            self._end_entity()
            self._at_boundary(*boundary)
            return end + 1

    def _write(self, buffer: bytearray, start: int, end: int) -> None:
        if end > start:
            self._body.write(bytes(buffer[start:end]))

    def _width(self) -> int:
        return max(m.width for m in self._multiparts) + BOUNDARY_SLACK

    def _boundary(self, line: bytes) -> tuple[_Multipart, bool] | None:
        # email.feedparser checks every enclosing boundary before the innermost one's own, so
        # a line that closes two of them belongs to the outer one.
        for multipart in self._multiparts:
            if multipart.stage == _DONE or not line.startswith(b"--"):
                continue
            found = multipart.line.match(line)
            if found:
                return multipart, found.group(1) is not None
        return None

    def _at_boundary(self, multipart: _Multipart, close: bool) -> None:
        depth = next(i for i, m in enumerate(self._multiparts) if m is multipart)
        del self._multiparts[depth + 1 :]
        self._line_start = True
        if close:
            # The epilogue; or, before any part, a boundary that never started (no parts).
            multipart.stage = _DONE
            self._body = _Body()
            return
        multipart.stage = _PARTS
        self._header_lines = []
        self._header_size = 0
        self._default_type = "message/rfc822" if multipart.digest else "text/plain"
        self._repeat = multipart

    # --- entities ---------------------------------------------------------------------------

    def _end_entity(self) -> None:
        """The part (or message) being read ends: at a boundary line or at the end of input."""
        while self._header_lines is not None:
            self._start_entity()
        self._body.end()
        self._body = _Body()

    def _start_entity(self) -> None:
        """Its header block is complete: decide what its body is for."""
        assert self._header_lines is not None
        headers = BytesHeaderParser(policy=compat32).parsebytes(b"".join(self._header_lines))
        headers.set_default_type(self._default_type)
        self._header_lines = None
        self._header_size = 0
        self._repeat = None
        self._line_start = True
        self._body = _Body()
        if self._top is None:
            self._top = headers
        content_type = headers.get_content_type()
        if headers.get_content_maintype() == "multipart" and self._open(headers):
            return
        if content_type == "message/delivery-status":
            # email.feedparser reads it as header blocks, each an empty text/plain part.
            self._claim("text/plain", "")
        elif headers.get_content_maintype() == "message":
            self._header_lines = []
            self._default_type = "text/plain"
        else:
            self._body = self._leaf(headers)

    def _open(self, headers: Message) -> bool:
        boundary = headers.get_boundary()
        if not boundary:
            return False
        try:
            separator = b"--" + boundary.encode("ascii", "surrogateescape")
        except UnicodeEncodeError:
            return False  # a decoded RFC 2231 boundary no line of bytes can match
        line = re.compile(re.escape(separator) + rb"(--)?[ \t]*(?:\r\n|\r|\n)?\Z")
        digest = headers.get_content_type() == "multipart/digest"
        self._multiparts.append(_Multipart(line, len(separator), digest))
        return True

    def _leaf(self, headers: Message) -> _Body:
        name = mail.attachment_name(headers)
        content_type = headers.get_content_type()
        if name is not None:
            encoding = str(headers.get("content-transfer-encoding", "")).lower()
            if encoding == "base64":
                return _Base64Size(self, name, content_type)
            if encoding == "quoted-printable":
                return _QuotedPrintableSize(self, name, content_type)
            if encoding in ("x-uuencode", "uuencode", "uue", "x-uue"):
                return _StdlibSize(self, headers, name)
            return _Size(self, name, content_type)
        if content_type in ("text/plain", "text/html") and self._claim(content_type, None):
            return _Text(self, headers, content_type)
        return _Body()

    def _claim(self, kind: str, text: str | None) -> bool:
        """The first part of a kind is the one used, as in mail_from_message."""
        if kind in self._claimed:
            return False
        self._claimed.add(kind)
        if text is not None:
            self.texts[kind] = text
        return True


def _keep(buffer: bytearray, position: int) -> int:
    """Where to stop handing on data with no boundary candidate in sight: before a line
    break that the next chunk may show to be followed by "--", and before a CR that may be
    the first half of that line break."""
    keep = len(buffer)
    if buffer.endswith(b"\n"):
        keep -= 1
    elif buffer.endswith(b"\n-"):
        keep -= 2
    if keep > position and buffer[keep - 1] == _CR:
        keep -= 1
    return max(keep, position)


def _without_line_break(buffer: bytearray, position: int) -> int:
    end = len(buffer)
    if buffer.endswith(b"\r\n") and end - 2 >= position:
        return end - 2
    if buffer.endswith((b"\n", b"\r")) and end - 1 >= position:
        return end - 1
    return end
