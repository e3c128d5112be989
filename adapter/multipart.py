"""Form posts (multipart/form-data and application/x-www-form-urlencoded) parsed as a stream.

Mail providers post whole messages, attachments included, as forms (Mailgun routes, SendGrid
Inbound Parse). The raw body is already in memory once; this module walks it with
python-multipart's callback parsers in fixed-size chunks so that a file part's bytes are only
counted and hashed, never collected, a text part is decoded with its own charset, and a field
with a sink (a raw message) is handed on as it streams past, in either form encoding.

python-multipart is strict about CRLF. SendGrid's published samples use bare LF line ends,
so a body whose first line ends in a bare LF has its bare LFs widened to CRLF chunk by chunk.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import unquote_to_bytes

from python_multipart import MultipartParser, QuerystringParser
from python_multipart.exceptions import FormParserError

from adapter.errors import InvalidPayload

CHUNK = 64 * 1024
MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"
_BARE_LF = re.compile(rb"(?<!\r)\n")

Sink = Callable[[bytes], None]


@dataclass(frozen=True)
class FilePart:
    """A file part as seen in passing: what it was called, claimed to be, and how big it was."""

    field: str
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass
class FormData:
    """The text fields (raw bytes and the charset their part declared) and the file parts."""

    values: dict[str, list[bytes]] = field(default_factory=dict)
    charsets: dict[str, str] = field(default_factory=dict)
    files: list[FilePart] = field(default_factory=list)

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def text(self, name: str, charset: str | None = None) -> str | None:
        """The first value of `name` decoded with its part's charset, else `charset`, else
        UTF-8; undecodable bytes become U+FFFD rather than an error."""
        raw = self.values.get(name)
        if not raw:
            return None
        return decode_bytes(raw[0], self.charsets.get(name) or charset)


def decode_bytes(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name: UTF-8 is the best guess left
        return data.decode("utf-8", errors="replace")


def parse_form(
    body: bytes,
    content_type_header: str,
    *,
    sinks: Mapping[str, Sink] | None = None,
    only: Collection[str] | None = None,
) -> FormData:
    """Parse a form post. Fields named in `sinks` are not collected: their bytes go to the
    sink as they stream past (SendGrid's raw `email` part into an e-mail feed parser). With
    `only`, other text fields are skipped too (a signature check needs three small fields).

    Raises InvalidPayload for anything that is not a complete form of the declared type.
    """
    header = Message()
    header["content-type"] = content_type_header or "application/octet-stream"
    kind = header.get_content_type()
    if kind == MULTIPART:
        boundary = header.get_param("boundary")
        if not isinstance(boundary, str) or not boundary:
            raise _invalid("The multipart body has no boundary in its Content-Type.")
        return _Multipart(boundary, sinks or {}, only).parse(body)
    if kind == URLENCODED:
        return _parse_urlencoded(body, sinks or {}, only)
    raise _invalid(f"Expected a form post ({MULTIPART} or {URLENCODED}), got {kind}.")


def _invalid(message: str) -> InvalidPayload:
    return InvalidPayload(message, errors={"body": [message]})


def _chunks(body: bytes) -> Iterator[bytes]:
    first_lf = body.find(b"\n", 0, 8192)
    bare_lf = first_lf > 0 and body[first_lf - 1 : first_lf] != b"\r"
    previous_cr = False
    for start in range(0, len(body), CHUNK):
        chunk = body[start : start + CHUNK]
        if bare_lf:
            # A CR that ended the previous chunk already pairs with a leading LF here.
            if previous_cr and chunk.startswith(b"\n"):
                chunk = b"\n" + _BARE_LF.sub(b"\r\n", chunk[1:])
            else:
                chunk = _BARE_LF.sub(b"\r\n", chunk)
            previous_cr = chunk.endswith(b"\r")
        yield chunk


class _Multipart:
    """Callback state for one multipart body."""

    def __init__(
        self, boundary: str, sinks: Mapping[str, Sink], only: Collection[str] | None
    ) -> None:
        self.form = FormData()
        self.sinks = sinks
        self.only = only
        self.ended = False
        self.parser = MultipartParser(
            boundary.encode("latin-1", errors="replace"),
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )
        self._reset()

    def _reset(self) -> None:
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.headers: dict[str, str] = {}
        self.name = ""
        self.chunks: list[bytes] = []
        self.sink: Sink | None = None
        self.file: FilePart | None = None
        self.size = 0
        self.digest = hashlib.sha256()

    def parse(self, body: bytes) -> FormData:
        try:
            for chunk in _chunks(body):
                self.parser.write(chunk)
            self.parser.finalize()
        except FormParserError as exc:
            raise _invalid(f"The multipart body is malformed: {exc}") from exc
        if not self.ended:
            raise _invalid("The multipart body ends before its closing boundary.")
        return self.form

    def _part_begin(self) -> None:
        self._reset()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def _header_end(self) -> None:
        name = _header_text(bytes(self.header_name)).strip().lower()
        self.headers[name] = _header_text(bytes(self.header_value)).strip()
        self.header_name = bytearray()
        self.header_value = bytearray()

    def _headers_finished(self) -> None:
        parsed = Message()
        parsed["content-disposition"] = self.headers.get("content-disposition", "")
        parsed["content-type"] = self.headers.get("content-type", "text/plain")
        name = parsed.get_param("name", header="content-disposition")
        self.name = name if isinstance(name, str) else ""
        filename = parsed.get_filename()
        charset = parsed.get_content_charset()
        if filename is not None:
            self.file = FilePart(self.name, filename, parsed.get_content_type(), 0, "")
        elif self.name in self.sinks:
            self.sink = self.sinks[self.name]
        elif self.only is not None and self.name not in self.only:
            self.sink = _discard
        if charset and self.file is None:
            self.form.charsets.setdefault(self.name, charset)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.file is not None:
            self.size += end - start
            self.digest.update(memoryview(data)[start:end])
        elif self.sink is not None:
            self.sink(data[start:end])
        else:
            self.chunks.append(data[start:end])

    def _part_end(self) -> None:
        if self.file is not None:
            done = FilePart(
                self.file.field,
                self.file.filename,
                self.file.content_type,
                self.size,
                self.digest.hexdigest(),
            )
            self.form.files.append(done)
        elif self.sink is None:
            self.form.values.setdefault(self.name, []).append(b"".join(self.chunks))
        self._reset()

    def _end(self) -> None:
        self.ended = True


def _header_text(raw: bytes) -> str:
    # Form part headers are UTF-8 in practice (RFC 7578 §5.1.3), Latin-1 in older clients.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _discard(data: bytes) -> None:
    pass


def _parse_urlencoded(
    body: bytes, sinks: Mapping[str, Sink], only: Collection[str] | None
) -> FormData:
    form = _Urlencoded(sinks, only)
    parser = QuerystringParser(
        callbacks={
            "on_field_name": form.name,
            "on_field_data": form.data,
            "on_field_end": form.end,
        }
    )
    try:
        for start in range(0, len(body), CHUNK):
            parser.write(body[start : start + CHUNK])
        parser.finalize()
    except FormParserError as exc:
        raise _invalid(f"The form body is malformed: {exc}") from exc
    return form.form


class _Urlencoded:
    """Callback state for one urlencoded body. A field's name is complete before its value
    starts, so a sink's value is unquoted and handed on chunk by chunk (Mailgun's body-mime
    is the whole message)."""

    def __init__(self, sinks: Mapping[str, Sink], only: Collection[str] | None) -> None:
        self.form = FormData()
        self.sinks = sinks
        self.only = only
        self.key = bytearray()
        self.value = bytearray()
        self.target: Sink | None = None
        self.started = False
        self.carry = b""

    def name(self, data: bytes, start: int, end: int) -> None:
        self.key.extend(data[start:end])

    def data(self, data: bytes, start: int, end: int) -> None:
        if not self.started:
            self._start()
        if self.target is None:
            self.value.extend(data[start:end])
            return
        if self.target is _discard:
            return
        chunk = self.carry + data[start:end]
        # A "%" or "%X" at the end may be an escape cut in two: it waits for the next chunk.
        escape = chunk.rfind(b"%", max(0, len(chunk) - 2))
        cut = len(chunk) if escape == -1 else escape
        self.carry = chunk[cut:]
        if cut:
            self.target(_unquote_plus(chunk[:cut]))

    def end(self) -> None:
        if not self.started:
            self._start()
        if self.target is None:
            self.form.values.setdefault(self._key(), []).append(_unquote_plus(bytes(self.value)))
        elif self.target is not _discard:
            self.target(_unquote_plus(self.carry))
        self.key.clear()
        self.value.clear()
        self.target = None
        self.started = False
        self.carry = b""

    def _key(self) -> str:
        return _header_text(_unquote_plus(bytes(self.key)))

    def _start(self) -> None:
        self.started = True
        key = self._key()
        if key in self.sinks:
            self.target = self.sinks[key]
        elif self.only is not None and key not in self.only:
            self.target = _discard


def _unquote_plus(raw: bytes) -> bytes:
    return unquote_to_bytes(raw.replace(b"+", b" "))
