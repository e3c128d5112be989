"""Rich text from sources turned into readable plain text for Bloxs.

Bloxs descriptions and notes are plain text, so markup has to go, but what it meant should
stay readable: a link keeps its address, a list keeps its bullets, a table keeps its cells.

- Jira wiki markup: what Jira webhooks carry in `description` and `comment.body` (the REST v2
  shape). https://jira.atlassian.com/secure/WikiRendererHelpAction.jspa?section=all
- Atlassian Document Format (ADF): the JSON tree REST v3 and Forge return. Not seen in
  webhooks so far, but accepted wherever wiki markup is, in case Atlassian switches.
  https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/

Pure functions; never raise on odd input: a ticket with a half-understood description is
better than a webhook refused for it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

MENTION = (
    "@user"  # what an opaque Cloud account id mention becomes: the id means nothing to a reader
)


def plain(value: object) -> str:
    """Plain text for a Jira rich-text value: wiki markup (str), an ADF document (dict), or
    nothing (None or anything else gives "")."""
    if isinstance(value, str):
        return wiki_to_text(value)
    if isinstance(value, Mapping):
        return adf_to_text(value)
    return ""


# --- Jira wiki markup -------------------------------------------------------------------------

_VERBATIM = re.compile(r"\{(code|noformat)(?::[^}]*)?\}(.*?)\{\1\}", re.DOTALL | re.IGNORECASE)
_QUOTE = re.compile(r"\{quote\}(.*?)\{quote\}", re.DOTALL | re.IGNORECASE)
_PANEL = re.compile(r"\{panel(?::([^}]*))?\}(.*?)\{panel\}", re.DOTALL | re.IGNORECASE)
# Macros whose tags carry no text of their own: the tags go, what they wrap stays.
_TAGS = re.compile(r"\{(?:color|anchor|section|column|expand)(?::[^}]*)?\}", re.IGNORECASE)
_HEADING = re.compile(r"^h[1-6]\.\s*(.*)$")
_BQ = re.compile(r"^bq\.\s*(.*)$")
_LIST = re.compile(r"^([*#]+|-)\s+(.*)$")
_RULE = re.compile(r"^-{4,}\s*$")
_LINK = re.compile(r"\[([^\[\]\n]+)\]")
_URL = re.compile(r"(?:https?|ftp)://[^\s\]|<>\"]+")
# An image needs a file extension or a URL, so "Help! Now!" stays text.
_IMAGE = re.compile(r"!(?=\S)(?:[^!\n|]+?\.[A-Za-z0-9]{2,5}|(?:https?://)[^!\s|]+)(?:\|[^!\n]*)?!")
_MONOSPACE = re.compile(r"\{\{(.+?)\}\}")
_ESCAPED = re.compile(r"\\([*_\-+^~?{}\[\]|!#\\])")
_INNER_SPACES = re.compile(r"(?<=\S)[ \t]{2,}")
_TOKEN = re.compile("\ue000(\\d+)\ue001")
_EMPHASIS = [
    re.compile(rf"(?<![\w{re.escape(m)}]){re.escape(m)}(?=\S)(.+?)(?<=\S){re.escape(m)}(?![\w])")
    for m in ("*", "_", "??", "-", "+", "^", "~")
]


def wiki_to_text(markup: str) -> str:
    """Plain text from Jira wiki markup (headings, emphasis, links, lists, tables, quotes,
    panels, code and noformat blocks); images and macros without text are dropped."""
    tokens: list[str] = []
    text = markup.replace("\r\n", "\n").replace("\r", "\n")
    # Code is verbatim: take it out before anything else can touch it.
    text = _VERBATIM.sub(lambda m: "\n" + _keep(tokens, m.group(2).strip("\n")) + "\n", text)
    return _finish(_restore(_wiki_blocks(text, tokens), tokens))


def _wiki_blocks(text: str, tokens: list[str]) -> str:
    text = _QUOTE.sub(lambda m: "\n" + _quoted(_wiki_blocks(m.group(1), tokens)) + "\n", text)
    text = _PANEL.sub(lambda m: "\n" + _panel(m.group(1), m.group(2), tokens) + "\n", text)
    text = _TAGS.sub("", text)
    out: list[str] = []
    counters: list[int] = []
    for line in text.split("\n"):
        stripped = line.strip()
        listed = _LIST.match(stripped)
        if not listed:
            counters.clear()
        if _RULE.match(stripped):
            out.append("")
        elif heading := _HEADING.match(stripped):
            out.extend(["", _inline(heading.group(1), tokens), ""])
        elif quote := _BQ.match(stripped):
            out.append("> " + _inline(quote.group(1), tokens))
        elif listed:
            out.append(_list_item(listed.group(1), _inline(listed.group(2), tokens), counters))
        elif stripped.startswith("|"):
            out.append(_table_row(stripped, tokens))
        else:
            out.append(_inline(line, tokens))
    return "\n".join(out)


def _panel(params: str | None, body: str, tokens: list[str]) -> str:
    title = ""
    for param in (params or "").split("|"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "title":
            title = value.strip()
    inner = _wiki_blocks(body, tokens)
    inner = inner.strip("\n")
    return f"{title}\n{inner}" if title else inner


def _list_item(marker: str, content: str, counters: list[int]) -> str:
    depth = len(marker)
    del counters[depth:]
    while len(counters) < depth:
        counters.append(0)
    counters[depth - 1] += 1
    indent = "  " * (depth - 1)
    if marker.endswith("#"):
        return f"{indent}{counters[depth - 1]}. {content}"
    return f"{indent}- {content}"


def _table_row(line: str, tokens: list[str]) -> str:
    cells: list[str] = []
    current: list[str] = []
    depth = 0
    for char in line.replace("||", "|"):
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(0, depth - 1)
        if char == "|" and depth == 0:
            cells.append("".join(current))
            current = []
        else:
            current.append(char)
    cells.append("".join(current))
    # The row starts (and normally ends) with a separator: drop the empty edges.
    if cells and not cells[0].strip():
        cells = cells[1:]
    if cells and not cells[-1].strip():
        cells = cells[:-1]
    return " | ".join(_inline(cell.strip(), tokens) for cell in cells)


def _inline(text: str, tokens: list[str]) -> str:
    text = text.replace("\\\\", "\n")
    text = _ESCAPED.sub(lambda m: _keep(tokens, m.group(1)), text)
    text = _MONOSPACE.sub(lambda m: _keep(tokens, m.group(1)), text)
    text = _INNER_SPACES.sub(" ", _IMAGE.sub("", text))
    text = _LINK.sub(lambda m: _keep(tokens, _link(m.group(1), tokens)), text)
    # Addresses are full of "_" and "-": keep emphasis rules away from them.
    text = _URL.sub(lambda m: _keep(tokens, m.group(0)), text)
    for pattern in _EMPHASIS:
        previous = None
        while previous != text:
            previous, text = text, pattern.sub(r"\1", text)
    return text


def _link(content: str, tokens: list[str]) -> str:
    parts = [p.strip() for p in content.split("|")]
    first = parts[0]
    if first.startswith("~"):
        who = first[1:]
        return MENTION if who.lower().startswith("accountid:") else "@" + who
    if first.startswith("^"):
        return first[1:]
    if len(parts) == 1:
        if first.startswith("#"):
            return first[1:]
        return _address(first)
    label, address = _restore(_inline(first, tokens), tokens), _address(parts[1])
    if not label or label == address:
        return address
    if address.startswith("#"):
        return label
    return f"{label} ({address})"


def _address(target: str) -> str:
    return target[len("mailto:") :] if target.lower().startswith("mailto:") else target


def _quoted(text: str) -> str:
    return "\n".join("> " + line if line.strip() else ">" for line in text.strip("\n").split("\n"))


def _keep(tokens: list[str], value: str) -> str:
    tokens.append(value)
    return f"\ue000{len(tokens) - 1}\ue001"


def _restore(text: str, tokens: list[str]) -> str:
    # Tokens can hold tokens (a link label with code in it): resolve until none are left.
    previous = None
    while previous != text:
        previous, text = text, _TOKEN.sub(lambda m: tokens[int(m.group(1))], text)
    return text


def _finish(text: str) -> str:
    """Trailing spaces off, at most one blank line in a row, NFC; indentation is kept
    because it carries list nesting and code layout."""
    text = unicodedata.normalize("NFC", text)
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


# --- Atlassian Document Format ------------------------------------------------------------------

_SKIPPED = {"media", "mediaSingle", "mediaGroup", "mediaInline", "extension", "placeholder"}


def adf_to_text(doc: Mapping[str, Any]) -> str:
    """Plain text from an ADF document (or any ADF node)."""
    return _finish("\n\n".join(b for b in _adf_block(doc) if b.strip()))


def _children(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    content = node.get("content")
    if not isinstance(content, list):
        return []
    return [child for child in content if isinstance(child, Mapping)]


def _attrs(node: Mapping[str, Any]) -> Mapping[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, Mapping) else {}


def _adf_blocks(nodes: list[Mapping[str, Any]]) -> list[str]:
    blocks: list[str] = []
    for node in nodes:
        blocks.extend(_adf_block(node))
    return blocks


def _adf_block(node: Mapping[str, Any]) -> list[str]:
    kind = node.get("type")
    if kind in _SKIPPED or kind == "rule":
        return []
    if kind in ("paragraph", "heading"):
        return [_adf_inline(_children(node))]
    if kind == "codeBlock":
        return ["".join(str(c.get("text", "")) for c in _children(node))]
    if kind in _LISTS:
        return ["\n".join(_adf_list(node, 0))]
    if kind == "blockquote":
        return [_quoted("\n\n".join(_adf_blocks(_children(node))))]
    if kind == "table":
        return ["\n".join(_adf_row(row) for row in _children(node))]
    if kind in ("expand", "nestedExpand"):
        title = str(_attrs(node).get("title") or "")
        return ([title] if title else []) + _adf_blocks(_children(node))
    if kind == "blockCard" or kind == "embedCard":
        url = _attrs(node).get("url")
        return [str(url)] if url else []
    if "text" in node or kind in _INLINE:
        return [_adf_inline([node])]
    # doc, panel, layoutSection, layoutColumn, bodiedExtension and what ADF adds later.
    return _adf_blocks(_children(node))


def _adf_list(node: Mapping[str, Any], depth: int) -> list[str]:
    kind = node.get("type")
    start = _attrs(node).get("order", 1)
    number = start if isinstance(start, int) and not isinstance(start, bool) else 1
    lines: list[str] = []
    for item in _children(node):
        if item.get("type") in _LISTS:
            lines.extend(_adf_list(item, depth + 1))  # task lists nest without an item
            continue
        if kind == "orderedList":
            marker = f"{number}. "
            number += 1
        elif kind == "taskList":
            marker = "[x] " if _attrs(item).get("state") == "DONE" else "[ ] "
        else:
            marker = "- "
        texts: list[str] = []
        nested: list[str] = []
        if item.get("type") in ("taskItem", "decisionItem"):
            texts.append(_adf_inline(_children(item)))
        else:
            for part in _children(item):
                if part.get("type") in _LISTS:
                    nested.extend(_adf_list(part, depth + 1))
                else:
                    texts.extend(_adf_block(part))
        lines.append("  " * depth + marker + " ".join(t.strip() for t in texts if t.strip()))
        lines.extend(nested)
    return lines


_LISTS = {"bulletList", "orderedList", "taskList", "decisionList"}


def _adf_row(row: Mapping[str, Any]) -> str:
    cells = [" ".join(_adf_blocks(_children(cell))).strip() for cell in _children(row)]
    return " | ".join(cells)


def _adf_inline(nodes: list[Mapping[str, Any]]) -> str:
    return "".join(_adf_inline_node(node) for node in nodes)


def _text_node(node: Mapping[str, Any]) -> str:
    text = str(node.get("text", ""))
    marks = node.get("marks")
    for mark in marks if isinstance(marks, list) else []:
        if isinstance(mark, Mapping) and mark.get("type") == "link":
            href = _attrs(mark).get("href")
            if href and str(href) != text:
                return f"{text} ({_address(str(href))})"
    return text


def _mention(node: Mapping[str, Any]) -> str:
    text = str(_attrs(node).get("text") or "")
    if not text:
        return MENTION
    return text if text.startswith("@") else "@" + text


def _emoji(node: Mapping[str, Any]) -> str:
    attrs = _attrs(node)
    return str(attrs.get("text") or attrs.get("shortName") or "")


def _date(node: Mapping[str, Any]) -> str:
    # ADF dates are epoch milliseconds, as a string, meant as a calendar day in UTC.
    try:
        millis = int(str(_attrs(node).get("timestamp")))
        return datetime.fromtimestamp(millis / 1000, tz=UTC).date().isoformat()
    except (ValueError, OverflowError, OSError):
        return ""


_INLINE: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "text": _text_node,
    "hardBreak": lambda node: "\n",
    "mention": _mention,
    "emoji": _emoji,
    "inlineCard": lambda node: str(_attrs(node).get("url") or ""),
    "status": lambda node: str(_attrs(node).get("text") or ""),
    "date": _date,
}


def _adf_inline_node(node: Mapping[str, Any]) -> str:
    kind = node.get("type")
    if kind in _SKIPPED:
        return ""
    render = _INLINE.get(str(kind))
    if render is not None:
        return render(node)
    if "text" in node:
        return str(node.get("text", ""))
    return _adf_inline(_children(node))
