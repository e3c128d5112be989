"""Text helpers shared by the source mappings: pure functions, no I/O."""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "…"
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def tidy(text: str) -> str:
    """Normalise line ends, trim trailing spaces, fold runs of blank lines and spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def shorten(text: str, limit: int) -> str:
    """`text` itself when it fits, else its start ending in "…", `limit` characters at most.

    Never cuts between a character and the combining marks that belong to it, and prefers to
    cut at a word boundary when one is near, so the shortened text reads as a sentence.
    """
    if len(text) <= limit:
        return text
    cut = limit - len(ELLIPSIS)
    while cut > 0 and unicodedata.combining(text[cut]):
        cut -= 1
    # Surrogates cannot occur in a decoded str, but a ZWJ sequence can: do not end on a joiner.
    while cut > 0 and text[cut - 1] == "\u200d":
        cut -= 1
    space = text.rfind(" ", 0, cut)
    if space > cut - 20:
        cut = space
    return text[:cut].rstrip() + ELLIPSIS


def describe(title: str | None, body: str | None) -> str:
    """The ticket text: the title, a blank line, then the body (either may be missing)."""
    parts = [p.strip() for p in (title or "", body or "") if p and p.strip()]
    return "\n\n".join(parts)
