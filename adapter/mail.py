"""What the e-mail source types share: one `IncomingMail` shape and its mapping onto an Event.

postmark, mailgun, sendgrid and email-parser each turn their sender's post into an
`IncomingMail`; `build_event` then applies the same rules to all of them: the normalised
Message-ID as external id, the new text of the message (quoted replies and signatures
stripped, HTML turned into text) as description, the sender as reporter, object codes from
the configured patterns, the thread ids that make a reply a note, and a note listing the
attachments, which are never forwarded or stored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import CharsetError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from adapter import text
from adapter.errors import ConfigError, InvalidPayload, Unauthenticated
from adapter.events import Event, Person
from adapter.settings import SourceSettings

if TYPE_CHECKING:
    # adapter.sources imports the source modules, which import this one: types only here.
    from adapter.sources.base import Inbound, Verified

DESCRIPTION_LIMIT = 512
EXTERNAL_ID_LIMIT = 100
# Object codes such as LL12 or KS5A, after a keyword ("object LL12", "code: KS5A") or in
# square brackets in the subject ("[LL12] lekkage").
DEFAULT_OBJECT_PATTERNS = (
    r"\b(?i:object|obj|objectcode|code|pand|complex)\b[:\s#.-]*([A-Z]{2,4}\d{1,4}[A-Z]?)\b",
    r"\[([A-Z]{2,4}\d{1,4}[A-Z]?)\]",
)


# --- the shared shape -----------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class IncomingMail:
    """One received e-mail, decoded, as every mail source type describes it.

    `stripped_text` is the provider's own "new part of the message" (Postmark
    StrippedTextReply, Mailgun stripped-text) and is preferred when it is not empty.
    `fallback_id` is the provider's id for the mail, the external id when the mail has no
    Message-ID. `headers` has lower-cased names (first occurrence wins). `object_keys` are
    object lookup keys the sender names itself (an e-mail parser's object code field); they
    come before the ones the object patterns find.
    """

    delivery_key: str
    sender: str | None
    sender_name: str | None = None
    subject: str = ""
    text: str | None = None
    html: str | None = None
    stripped_text: str | None = None
    date: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    fallback_id: str | None = None
    object_keys: tuple[str, ...] = ()


# --- options every mail source has -----------------------------------------------------------


def _compiles(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValidationError(f"Not a regular expression: {exc}") from None


class BasicAuthOptions(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1))
    passwords = fields.List(
        fields.String(validate=validate.Length(min=1)),
        required=True,
        validate=validate.Length(min=1),
    )


class MailOptions(Schema):
    """Options of every e-mail source type (the keys sit in the source's config entry)."""

    object_patterns = fields.List(
        fields.String(validate=_compiles), load_default=lambda: list(DEFAULT_OBJECT_PATTERNS)
    )
    ticket_token_pattern = fields.String(
        load_default=r"\[ticket:([^\]]+)\]", allow_none=True, validate=_compiles
    )
    strip_signatures = fields.Boolean(load_default=True)

    @validates_schema
    def _token_pattern_has_group(self, data: dict[str, Any], **_: Any) -> None:
        pattern = data.get("ticket_token_pattern")
        if pattern and re.compile(pattern).groups < 1:
            raise ValidationError("Needs a capturing group.", "ticket_token_pattern")


class SharedSecretOptions(MailOptions):
    """For senders that sign nothing (Postmark, SendGrid, parsers): basic auth in the webhook
    URL and/or a token in a query parameter or header, compared in constant time."""

    basic_auth = fields.Nested(BasicAuthOptions, load_default=None)
    tokens = fields.List(fields.String(validate=validate.Length(min=1)), load_default=list)
    token_param = fields.String(load_default="token")
    token_header = fields.String(load_default="X-Webhook-Token")


@dataclass(frozen=True)
class MailConfig:
    object_patterns: tuple[re.Pattern[str], ...]
    ticket_token: re.Pattern[str] | None
    strip_signatures: bool


def load_options(schema: type[Schema], settings: SourceSettings) -> dict[str, Any]:
    """The source's options with defaults applied. Loading is idempotent, so options that
    config.py already loaded pass unchanged; tests may hand in the raw YAML dict."""
    try:
        loaded: dict[str, Any] = schema().load(dict(settings.options))
    except ValidationError as exc:
        raise ConfigError(
            f"Source {settings.name!r}: invalid options.", errors=_flatten(exc.messages)
        ) from exc
    return loaded


def require_shared_secret(settings: SourceSettings, options: Mapping[str, Any]) -> None:
    if not (options.get("basic_auth") or options.get("tokens")) and not settings.insecure:
        message = "Configure basic_auth and/or tokens (or set insecure: true for a test setup)."
        raise ConfigError(f"Source {settings.name!r} has no credentials.", errors={"": [message]})


def mail_config(options: Mapping[str, Any]) -> MailConfig:
    token = options.get("ticket_token_pattern")
    return MailConfig(
        object_patterns=tuple(re.compile(p) for p in options.get("object_patterns", ())),
        ticket_token=re.compile(token) if token else None,
        strip_signatures=bool(options.get("strip_signatures", True)),
    )


def check_shared_secret(
    inbound: Inbound, options: Mapping[str, Any], *, insecure: bool = False
) -> None:
    """Accept the request when its basic auth or its token matches a configured one."""
    from adapter.sources.base import check_basic_auth, check_token  # see the TYPE_CHECKING note

    basic = options.get("basic_auth")
    tokens: Sequence[str] = options.get("tokens") or ()
    if not basic and not tokens and insecure:
        return
    if basic and check_basic_auth(inbound.headers, basic["username"], basic["passwords"]):
        return
    if tokens:
        given = inbound.headers.get(str(options.get("token_header", "")).lower()) or (
            inbound.query.get(str(options.get("token_param", "")))
        )
        if check_token(given, tokens):
            return
    sent = "authorization" in inbound.headers or bool(tokens and given)
    raise Unauthenticated(
        "The credentials do not match." if sent else "No credentials were sent with the request."
    )


class SharedSecretSource:
    """What the source types whose sender signs nothing share (Postmark, SendGrid, e-mail
    parsers): their options, the credential check at start-up, and verify().

    A mixin placed before SourceType in the bases (`class X(SharedSecretSource, SourceType)`),
    because this module cannot import adapter.sources at import time (see TYPE_CHECKING).
    """

    Options: type[Schema] = SharedSecretOptions
    settings: SourceSettings
    options: Mapping[str, Any]
    config: MailConfig

    def __init__(self, settings: SourceSettings) -> None:
        super().__init__(settings)  # type: ignore[call-arg]  # SourceType.__init__
        self.options = load_options(self.Options, settings)
        require_shared_secret(settings, self.options)
        self.config = mail_config(self.options)

    def verify(self, inbound: Inbound) -> Verified:
        from adapter.sources.base import Verified  # see the TYPE_CHECKING note

        check_shared_secret(inbound, self.options, insecure=self.settings.insecure)
        return Verified()


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(messages, list):
        return {prefix: [str(m) for m in messages]}
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


# --- headers and identifiers -----------------------------------------------------------------


def decode_words(value: str | None) -> str:
    """RFC 2047 encoded words decoded; an unknown charset or a broken word does not raise."""
    if not value:
        return ""
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError, CharsetError):
        pass
    parts: list[str] = []
    try:
        chunks = decode_header(value)
    except ValueError:
        return value
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            parts.append(chunk)
            continue
        try:
            parts.append(chunk.decode(charset or "ascii", errors="replace"))
        except LookupError:
            parts.append(chunk.decode("latin-1"))
    return "".join(parts)


def parse_sender(value: str | None) -> tuple[str | None, str | None]:
    """(display name, address) of a From value; RFC 2047 names decoded after the split, so
    an encoded comma cannot break the address apart."""
    if not value:
        return None, None
    pairs = getaddresses([value])
    name, address = pairs[0] if pairs else ("", "")
    if "@" not in address:
        return decode_words(name).strip() or None, None
    return decode_words(name).strip().strip('"').strip() or None, address.strip()


def normalise_message_id(value: str | None) -> str | None:
    """A Message-ID without angle brackets and whitespace, the domain part lower-cased; one
    longer than Bloxs's 100-character externalIdentifier becomes a stable hash."""
    if not value:
        return None
    found = re.search(r"<([^<>]*)>", value)
    core = re.sub(r"\s+", "", found.group(1) if found else value)
    if not core:
        return None
    local, at, domain = core.rpartition("@")
    if at:
        core = f"{local}@{domain.lower()}"
    if len(core) > EXTERNAL_ID_LIMIT:
        return "mid-" + hashlib.sha256(core.encode("utf-8", "replace")).hexdigest()
    return core


def message_ids(value: str | None) -> list[str]:
    """Every id in an In-Reply-To or References value, in the order written."""
    if not value:
        return []
    raw = re.findall(r"<[^<>]*>", value) or value.replace(",", " ").split()
    return [i for i in (normalise_message_id(r) for r in raw) if i]


def headers_of(message: Message) -> dict[str, str]:
    """Lower-cased header names to decoded values (first occurrence); raw 8-bit header
    bytes are read as UTF-8, else Windows-1252, instead of raising."""
    out: dict[str, str] = {}
    for name, value in message.raw_items():
        key = name.strip().lower()
        if key not in out:
            out[key] = _header_value(value)
    return out


def _header_value(value: Any) -> str:
    raw = str(value)
    try:
        data = raw.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return decode_words(raw)
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        decoded = data.decode("cp1252", errors="replace")
    return decode_words(re.sub(r"\r?\n[ \t]+", " ", decoded))


def header_block(headers: str) -> dict[str, str]:
    """A raw header block (SendGrid's `headers` part) as `headers_of` would read it."""
    return headers_of(HeaderParser().parsestr(headers.lstrip("\r\n") + "\n\n"))


def mail_from_message(
    message: Message, *, delivery_key: str, extra_attachments: Iterable[Attachment] = ()
) -> IncomingMail:
    """An IncomingMail from a whole MIME message parsed by the standard library. Raw posts
    are read with adapter.mime instead, which holds the message once; both apply the rules
    of `attachment_name` and `part_text` to the parts in the same order."""
    plain: str | None = None
    html: str | None = None
    attachments = list(extra_attachments)
    for part in message.walk():
        if part.is_multipart():
            continue
        name = attachment_name(part)
        if name is not None:
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            attachments.append(Attachment(name, part.get_content_type(), size))
        elif part.get_content_type() == "text/plain" and plain is None:
            plain = part_text(part)
        elif part.get_content_type() == "text/html" and html is None:
            html = part_text(part)
    return mail_from_headers(
        message, delivery_key=delivery_key, text=plain, html=html, attachments=attachments
    )


def mail_from_headers(
    message: Message,
    *,
    delivery_key: str,
    text: str | None,
    html: str | None,
    attachments: Iterable[Attachment],
) -> IncomingMail:
    """An IncomingMail from a message's top-level headers and what its parts gave."""
    headers = headers_of(message)
    name, address = parse_sender(headers.get("from"))
    return IncomingMail(
        delivery_key=delivery_key,
        sender=address,
        sender_name=name,
        subject=headers.get("subject", ""),
        text=text,
        html=html,
        date=headers.get("date"),
        message_id=headers.get("message-id"),
        in_reply_to=headers.get("in-reply-to"),
        references=headers.get("references"),
        headers=headers,
        attachments=tuple(attachments),
    )


def attachment_name(part: Message) -> str | None:
    """The name a leaf part is listed under when it is an attachment (disposition
    "attachment", or any file name), else None. RFC 2231 and RFC 2047 names are decoded."""
    filename = part.get_filename()
    if part.get_content_disposition() == "attachment" or filename:
        return decode_words(filename or "") or "unnamed"
    return None


def part_text(part: Message) -> str:
    """A text part's body, transfer-decoded, in its charset (an unknown one: Windows-1252)."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        return data.decode("cp1252", errors="replace")


# --- the new text of a message ---------------------------------------------------------------

_QUOTE_INTRO = (
    re.compile(r"^\s*On\b.{1,300}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Op\b.{1,300}\bschreef\b.{0,300}:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Am\b.{1,300}\bschrieb\b.{0,300}:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(
        r"^\s*-{2,}\s*(original message|oorspronkelijk bericht|origineel bericht|"
        r"forwarded message|doorgestuurd bericht)\s*-{2,}\s*$",
        re.IGNORECASE,
    ),
    re.compile(r"^\s*_{20,}\s*$"),
)
# Outlook quotes with a header block instead of an intro line: "From: … / Sent: …".
_OUTLOOK_FROM = re.compile(r"^\s*\*?(from|van)\s*:\*?\s", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(r"^\s*\*?(sent|verzonden|date|datum)\s*:", re.IGNORECASE)
_MOBILE_FOOTER = re.compile(
    r"^\s*(sent from my|verzonden (vanaf|met) mijn|verstuurd (vanaf|met) mijn|"
    r"get outlook for|sent from outlook for|download outlook for)\b",
    re.IGNORECASE,
)


def strip_reply(body: str, *, signatures: bool = True) -> str:
    """The new text of a message: everything before the first quote intro ("On … wrote:",
    "Op … schreef …:", an Outlook header block), without "> " lines and, if `signatures`,
    without the "-- " signature and mobile footers."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if _is_quote_intro(line, following, lines[i + 1 : i + 5]):
            break
        if signatures and (line.rstrip() == "--" or _MOBILE_FOOTER.match(line)):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return text.tidy("\n".join(kept))


def _is_quote_intro(line: str, following: str, block: list[str]) -> bool:
    if any(p.match(line) for p in _QUOTE_INTRO):
        return True
    # Mail clients wrap a long intro line: "On Thu, … Facilities <\nfac@example> wrote:".
    if line.strip() and re.match(r"^\s*(On|Op|Am)\b", line, re.IGNORECASE):
        joined = f"{line} {following}"
        if any(p.match(joined) for p in _QUOTE_INTRO[:3]):
            return True
    return bool(_OUTLOOK_FROM.match(line)) and any(_OUTLOOK_SENT.match(b) for b in block)


class _HtmlText(HTMLParser):
    _SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})
    _PARAGRAPH = frozenset(
        {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre", "hr", "dl"}
    )
    _LINE = frozenset(
        {"div", "li", "tr", "section", "article", "header", "footer", "dd", "dt", "address"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current = ""
        self.skip = 0
        self.depth = 0

    def _break(self, *, force: bool = False, blank: bool = False) -> None:
        if self.current.strip() or force:
            self.lines.append("> " * self.depth + self.current)
            self.current = ""
        if blank and self.lines and self.lines[-1].strip("> "):
            self.lines.append("> " * self.depth)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skip += 1
        elif tag == "br":
            self._break(force=True)
        elif tag == "blockquote":
            self._break(blank=True)
            self.depth += 1
        elif tag in self._PARAGRAPH or tag in self._LINE:
            self._break()
            if tag == "li":
                self.current = "- "
        elif tag in ("td", "th"):
            self.current += " "

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self._break(blank=True)
            self.depth = max(0, self.depth - 1)
        elif tag in self._PARAGRAPH:
            self._break(blank=True)
        elif tag in self._LINE:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.current += re.sub(r"\s+", " ", data)

    def result(self) -> str:
        self._break()
        # A blank line inside a quote is only quote marks: make it a plain blank line.
        return text.tidy("\n".join("" if not ln.strip("> ") else ln for ln in self.lines))


def html_to_text(html: str) -> str:
    """Readable text from an HTML body: blocks become lines, quoted blocks "> " lines (so
    `strip_reply` removes them), scripts and styles dropped, entities decoded."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # html.parser on badly broken markup
        return text.tidy(re.sub(r"<[^>]*>", " ", html))
    return parser.result()


# Dutch national numbers (030 123 4567, 06-12345678, (020) 123 45 67) and international ones
# (+31 6 1234 5678, 0031 30 1234567, +44 20 7946 0958); the digit count weeds out dates.
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)[1-9]\d{0,2}[\s.-]?(?:\(0\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4}"
    r"|\(?0\d{1,3}\)?[\s.-]?\d{2,4}(?:[\s.-]?\d{2,4}){1,3})(?![\w])"
)


def find_phone(body: str) -> str | None:
    for match in _PHONE.finditer(body):
        number = match.group(0).strip()
        digits = re.sub(r"\D", "", number.replace("(0)", ""))
        international = number.startswith(("+", "00"))
        if (international and 9 <= len(digits) <= 15) or (not international and len(digits) == 10):
            return number
    return None


def attachments_note(attachments: Sequence[Attachment]) -> str | None:
    if not attachments:
        return None
    lines = [f"- {a.name} ({a.content_type}, {format_size(a.size)})" for a in attachments]
    return "Attachments (not forwarded):\n" + "\n".join(lines)


def format_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


# --- date and priority -----------------------------------------------------------------------


def parse_date(value: str | None) -> datetime | None:
    """An RFC 5322 date (written however the sending server wrote it) or an ISO 8601 one."""
    if not value or not value.strip():
        return None
    cleaned = re.sub(r"([+-]\d\d):(\d\d)\s*$", r"\1\2", value.strip())
    try:
        moment = parsedate_to_datetime(cleaned)
    except (TypeError, ValueError, IndexError, OverflowError):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def reporting_date(value: str | None, tz: ZoneInfo, received_at: datetime) -> str:
    moment = parse_date(value) or received_at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).date().isoformat()


def priority(headers: Mapping[str, str], settings: SourceSettings) -> int:
    """X-Priority (1-2 high, 4-5 low) or Importance (high/low), through the source's
    priority_map when it names the level; else the source's default priority."""
    level = "normal"
    x_priority = re.match(r"\s*(\d)", headers.get("x-priority", ""))
    importance = headers.get("importance", "").strip().lower()
    if x_priority:
        digit = int(x_priority.group(1))
        level = "high" if digit <= 2 else "low" if digit >= 4 else "normal"
    elif importance in ("high", "low"):
        level = importance
    if level in settings.priority_map:
        return int(settings.priority_map[level])
    return {"high": 3, "low": 1}.get(level, settings.default_priority)


# --- the Event -------------------------------------------------------------------------------


def new_text(mail: IncomingMail, config: MailConfig) -> tuple[str, str]:
    """(new text, whole body text): the provider's stripped text when it has one, else the
    plain body (or the HTML body as text) with quotes and signatures stripped."""
    body = text.tidy(mail.text or "")
    if not body and mail.html:
        body = html_to_text(mail.html)
    stripped = text.tidy(mail.stripped_text or "")
    if stripped:
        return strip_reply(stripped, signatures=config.strip_signatures) or stripped, body
    return strip_reply(body, signatures=config.strip_signatures) or body, body


def build_event(
    mail: IncomingMail,
    *,
    settings: SourceSettings,
    config: MailConfig,
    received_at: datetime,
) -> Event:
    if not mail.sender:
        raise InvalidPayload(
            "The mail has no sender address.", errors={"from": ["A sender address is required."]}
        )
    subject = text.tidy(decode_words(mail.subject)).replace("\n", " ")
    fresh, body = new_text(mail, config)
    full = text.describe(subject, fresh) or "(e-mail without subject or text)"
    notes: list[str] = []
    description = full
    if len(full) > DESCRIPTION_LIMIT:
        description = text.shorten(full, DESCRIPTION_LIMIT)
        notes.append(full)
    listing = attachments_note(mail.attachments)
    if listing:
        notes.append(listing)

    # The phone number is looked for before the signature is cut off: that is where it sits.
    phone = find_phone(strip_reply(body, signatures=False)) or find_phone(fresh)
    reporter = Person(
        keys=(mail.sender.lower(),), name=mail.sender_name, email=mail.sender, phone=phone
    )
    sender = f"{mail.sender_name} <{mail.sender}>" if mail.sender_name else mail.sender
    return Event(
        kind="create",
        source=settings.name,
        delivery_key=mail.delivery_key,
        external_id=external_id(mail, subject, body),
        fields={
            "description": description,
            "reportingDate": reporting_date(mail.date, settings.timezone, received_at),
            "priority": priority(mail.headers, settings),
        },
        reporter=reporter,
        object_keys=object_keys(config, subject, fresh, body, given=mail.object_keys),
        note=f"E-mail from {sender}:\n\n{fresh or subject}",
        notes_after_create=tuple(notes),
        thread_ids=thread_ids(mail, subject, config),
        summary=f"mail from {mail.sender.rpartition('@')[2].lower()} subject {subject[:40]}",
    )


def external_id(mail: IncomingMail, subject: str, body: str) -> str:
    found = normalise_message_id(mail.message_id) or normalise_message_id(mail.fallback_id)
    if found:
        return found
    # No id at all: the same mail posted again must still map to the same ticket.
    basis = "\n".join((mail.sender or "", mail.date or "", subject, body))
    return "mail-" + hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()[:40]


def thread_ids(mail: IncomingMail, subject: str, config: MailConfig) -> tuple[str, ...]:
    ids = message_ids(mail.in_reply_to) + message_ids(mail.references)[::-1]
    if config.ticket_token:
        found = config.ticket_token.search(subject)
        if found and found.group(1).strip():
            ids.append(found.group(1).strip())
    own = normalise_message_id(mail.message_id)
    return tuple(dict.fromkeys(i for i in ids if i != own))


def object_keys(config: MailConfig, *texts: str, given: Iterable[str] = ()) -> tuple[str, ...]:
    keys: dict[str, str] = {k.strip().lower(): k.strip() for k in given if k.strip()}
    for value in texts:
        for pattern in config.object_patterns:
            for match in pattern.finditer(value):
                key = (match.group(1) if pattern.groups else match.group(0)).strip()
                if key:
                    keys.setdefault(key.lower(), key)
    return tuple(keys.values())


def body_hash(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()
