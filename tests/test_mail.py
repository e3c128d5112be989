"""The shared e-mail mapping: identifiers, new-text extraction, HTML, encodings, the Event."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import compat32
from zoneinfo import ZoneInfo

from adapter import mail
from adapter.events import Event
from adapter.multipart import CHUNK, parse_form
from adapter.settings import SourceSettings

SETTINGS = SourceSettings(name="mailbox", type="postmark", timezone=ZoneInfo("Europe/Amsterdam"))
CONFIG = mail.mail_config(mail.MailOptions().load({}))
RECEIVED = datetime(2025, 3, 14, 23, 30, tzinfo=UTC)


def event_of(message: EmailMessage) -> Event:
    parsed = BytesParser(policy=compat32).parsebytes(message.as_bytes())
    incoming = mail.mail_from_message(parsed, delivery_key="k")
    return mail.build_event(incoming, settings=SETTINGS, config=CONFIG, received_at=RECEIVED)


def test_message_id_normalised() -> None:
    """Brackets and whitespace go, the domain part is lower-cased, the local part kept."""
    assert mail.normalise_message_id(" <AbC.1@Mail.Example.COM>\r\n") == "AbC.1@mail.example.com"
    assert mail.normalise_message_id("<>") is None
    assert mail.normalise_message_id(None) is None


def test_long_message_id_hashed_stably() -> None:
    """An id over 100 characters becomes "mid-" + sha256 hex: same input, same id, ≤ 100."""
    long_id = "<" + "x" * 120 + "@Example.com>"
    first = mail.normalise_message_id(long_id)
    assert first == mail.normalise_message_id(long_id.replace("Example", "example"))
    assert first is not None
    assert re.fullmatch(r"mid-[0-9a-f]{64}", first)
    assert mail.normalise_message_id("<" + "y" * 120 + "@example.com>") != first


def test_english_and_dutch_quote_intros_are_cut() -> None:
    """ "On … wrote:" (also wrapped over two lines) and "Op … schreef …:" end the new text."""
    english = "Fixed?\n\nOn Thu, 13 Mar 2025 at 10:00, Facilities <\nfac@example.com> wrote:\n> old"
    dutch = "Nog steeds kapot.\n\nOp do 13 mrt. 2025 om 10:00 schreef Beheer <b@x.nl>:\n\n> oud"
    assert mail.strip_reply(english) == "Fixed?"
    assert mail.strip_reply(dutch) == "Nog steeds kapot."


def test_quotes_signature_and_outlook_header() -> None:
    """ "> " lines, the "-- " signature and an Outlook From/Sent block are removed."""
    body = "Top\n> quoted\nMore\n-- \nJan\n06-11111111"
    assert mail.strip_reply(body) == "Top\nMore"
    assert mail.strip_reply(body, signatures=False) == "Top\nMore\n--\nJan\n06-11111111"
    outlook = "Graag snel.\n\nVan: Beheer <b@x.nl>\nVerzonden: maandag\nAan: mij\n\nOud bericht"
    assert mail.strip_reply(outlook) == "Graag snel."


def test_html_to_text() -> None:
    """Blocks become lines, entities are decoded, scripts dropped, blockquotes quoted."""
    html = (
        "<html><head><style>p{}</style></head><body><p>Hallo&nbsp;&amp; welkom,</p>"
        "<div>regel 1<br>regel 2</div><ul><li>een</li><li>twee</li></ul>"
        "<script>alert(1)</script><blockquote><p>oud</p></blockquote></body></html>"
    )
    text = mail.html_to_text(html)
    assert text == "Hallo & welkom,\n\nregel 1\nregel 2\n- een\n- twee\n\n> oud"
    assert mail.strip_reply(text) == "Hallo & welkom,\n\nregel 1\nregel 2\n- een\n- twee"


def test_rfc2047_and_unknown_charset() -> None:
    """Encoded words decode; an unknown charset or broken word degrades, never raises."""
    assert mail.decode_words("=?iso-8859-1?q?caf=E9?= =?utf-8?b?4pyT?=") == "café✓"
    assert "caf" in mail.decode_words("=?x-unknown?q?caf=E9?=")
    assert isinstance(mail.decode_words("=?utf-8?b?####?="), str)


def test_quoted_printable_latin1_part() -> None:
    """A quoted-printable iso-8859-1 body and an RFC 2047 subject and name decode."""
    message = EmailMessage()
    message["From"] = "=?iso-8859-1?q?Ren=E9e_de_Vries?= <renee@example.nl>"
    message["Subject"] = "=?iso-8859-1?q?Verwarming_kapot_in_caf=E9?="
    message["Date"] = "Fri, 14 Mar 2025 09:00:00 +0100"
    message.set_content(
        "De verwarming in het café doet het niet.\n", charset="iso-8859-1", cte="quoted-printable"
    )
    event = event_of(message)
    assert event.fields["description"] == (
        "Verwarming kapot in café\n\nDe verwarming in het café doet het niet."
    )
    assert event.reporter is not None
    assert event.reporter.name == "Renée de Vries"


def test_base64_windows1252_html_only_part() -> None:
    """A base64 windows-1252 HTML-only body becomes readable text."""
    message = EmailMessage()
    message["From"] = "a@example.nl"
    message["Subject"] = "HTML"
    html = "<p>Prijs: 12 €</p><p>“Dringend”</p>"
    message.set_content(html, subtype="html", charset="windows-1252", cte="base64")
    message.make_mixed()
    assert "base64" in message.as_string()
    assert event_of(message).fields["description"] == "HTML\n\nPrijs: 12 €\n\n“Dringend”"


def test_malformed_mime_does_not_crash() -> None:
    """Broken base64, an unknown charset and 8-bit headers still give an Event."""
    raw = (
        b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.nl>\r\nSubject: Caf\xe9 lek\r\n"
        b"Content-Type: text/plain; charset=x-nonsense\r\nContent-Transfer-Encoding: base64\r\n"
        b"\r\n@@@not base64!!\r\n"
    )
    parsed = BytesParser(policy=compat32).parsebytes(raw)
    incoming = mail.mail_from_message(parsed, delivery_key="k")
    event = mail.build_event(incoming, settings=SETTINGS, config=CONFIG, received_at=RECEIVED)
    assert event.fields["description"].startswith("Café lek")
    assert event.fields["reportingDate"] == "2025-03-15"  # received 23:30 UTC = next day NL


def test_long_description_shortened_with_full_note() -> None:
    """Over 512 characters: a shortened description, the full text as first note."""
    message = EmailMessage()
    message["From"] = "a@example.nl"
    message["Subject"] = "Lang"
    message.set_content("woord " * 200)
    event = event_of(message)
    assert len(event.fields["description"]) <= 512
    assert event.fields["description"].endswith("…")
    assert event.notes_after_create[0] == "Lang\n\n" + ("woord " * 200).strip()


def test_phone_numbers() -> None:
    """Dutch and international numbers are found; dates and short numbers are not."""
    assert mail.find_phone("bel 030 123 4567 aub") == "030 123 4567"
    assert mail.find_phone("mobiel: +31 (0)6 1234 5678") == "+31 (0)6 1234 5678"
    assert mail.find_phone("0031-20-1234567") == "0031-20-1234567"
    assert mail.find_phone("op 2025-03-14 om 10:00, kamer 12") is None


def test_object_patterns_and_priority() -> None:
    """Default patterns find "object LL12" and "[KS5A]"; X-Priority 5 is low."""
    message = EmailMessage()
    message["From"] = "a@example.nl"
    message["Subject"] = "[KS5A] lekkage"
    message["X-Priority"] = "5 (Lowest)"
    message.set_content("Het gaat om object: LL12.")
    event = event_of(message)
    assert event.object_keys == ("KS5A", "LL12")
    assert event.fields["priority"] == 1


def test_multipart_lf_body_across_chunk_boundaries() -> None:
    """A bare-LF multipart body whose lines straddle parse chunks keeps its text intact."""
    value = ("x" * (CHUNK - 3) + "\r\n" + "y" * 10 + "\n") * 3
    body = f'--b\nContent-Disposition: form-data; name="t"\n\n{value}\n--b--\n'.encode()
    form = parse_form(body, "multipart/form-data; boundary=b")
    text = form.text("t")
    assert text is not None
    assert text.replace("\r\n", "\n") == value.replace("\r\n", "\n")
