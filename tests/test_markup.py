"""Jira wiki markup and Atlassian Document Format turned into readable plain text."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.markup import adf_to_text, plain, wiki_to_text

# --- wiki markup ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("h1. Title\nBody", "Title\n\nBody"),
        ("h3.Leak\n\nh6. Small", "Leak\n\nSmall"),
        ("*bold* and _italic_ and -struck- and +under+", "bold and italic and struck and under"),
        ("*_both_* ??cited?? {{mono_space}}", "both cited mono_space"),
        ("room *B2.14*, see *here*.", "room B2.14, see here."),
        ("snake_case_name, well-known, 2025-03-14, 3 * 4 * 5", None),
        ("a - b - c and x^2^", None),
    ],
)
def test_wiki_text_effects(markup: str, expected: str | None) -> None:
    """Emphasis markers go; text that only looks like markup stays as it is."""
    assert wiki_to_text(markup) == (markup if expected is None else expected)


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("[Manual|https://x.test/m]", "Manual (https://x.test/m)"),
        ("[https://x.test/a_b-c]", "https://x.test/a_b-c"),
        ("[https://x.test|https://x.test]", "https://x.test"),
        ("[mail me|mailto:fm@x.test] [mailto:a@x.test]", "mail me (fm@x.test) a@x.test"),
        ("see [^invoice_2025.pdf]", "see invoice_2025.pdf"),
        ("[*Bold* label|https://x.test]", "Bold label (https://x.test)"),
        ("bare https://x.test/a_b_c-d_ link", "bare https://x.test/a_b_c-d_ link"),
        ("_see [here|https://x.test/q_r]_.", "see here (https://x.test/q_r)."),
    ],
)
def test_wiki_links_keep_their_address(markup: str, expected: str) -> None:
    """A link becomes its label with the address in brackets; emphasis never eats URLs."""
    assert wiki_to_text(markup) == expected


def test_wiki_mentions() -> None:
    """Cloud mentions by account id become @user; Server mentions keep the user name."""
    assert wiki_to_text("Hi [~accountid:5c5f880629be9642ba529340]!") == "Hi @user!"
    assert wiki_to_text("cc [~craig]") == "cc @craig"


def test_wiki_images_are_dropped() -> None:
    """Embedded images have no text: they go, exclamation marks in prose stay."""
    assert wiki_to_text("Leak !IMG_0042.JPG|thumbnail! here") == "Leak here"
    assert wiki_to_text("see !https://x.test/p.png! now") == "see now"
    assert wiki_to_text("Help! Water everywhere!") == "Help! Water everywhere!"


def test_wiki_lists_keep_nesting_and_numbers() -> None:
    """Bullets become "- ", numbered items are counted per level, nesting is indented."""
    markup = "* one\n** one.a\n* two\n\n# first\n# second\n## second.a\n#* second.b\n# third"
    assert wiki_to_text(markup) == (
        "- one\n  - one.a\n- two\n\n1. first\n2. second\n  1. second.a\n  - second.b\n3. third"
    )


def test_wiki_code_and_noformat_are_verbatim() -> None:
    """Code and noformat blocks keep their markup characters and indentation."""
    markup = "Run:\n{code:bash}\nsudo *reset* [a|b]\n  --force\n{code}\n{noformat}_x_{noformat}"
    assert wiki_to_text(markup) == "Run:\n\nsudo *reset* [a|b]\n  --force\n\n_x_"


def test_wiki_quotes() -> None:
    """{quote} blocks and bq. lines become "> " lines."""
    assert wiki_to_text("{quote}\nfirst *line*\nsecond\n{quote}") == "> first line\n> second"
    assert wiki_to_text("bq. short") == "> short"


def test_wiki_tables() -> None:
    """Table rows become cells separated by " | ", links inside cells intact."""
    markup = "||Room||Issue||\n|B2.14|[leak|https://x.test/a]|\n| B2.15 | *ok* |"
    assert wiki_to_text(markup) == "Room | Issue\nB2.14 | leak (https://x.test/a)\nB2.15 | ok"


def test_wiki_panels_colors_rules_breaks_escapes() -> None:
    """Panels keep title and body, color tags go, rules and \\\\ become line breaks, escapes
    show the character."""
    markup = (
        "{panel:title=Note|borderStyle=dashed}\nInside\n{panel}\n----\n"
        "{color:red}red{color} \\*not bold\\* a\\\\b"
    )
    assert wiki_to_text(markup) == "Note\nInside\n\nred *not bold* a\nb"


def test_wiki_whitespace_is_tidied() -> None:
    """CRLF line ends, trailing spaces and runs of blank lines are folded."""
    assert wiki_to_text("a  \r\n\r\n\r\n\r\nb\r\n") == "a\n\nb"


# --- ADF -------------------------------------------------------------------------------------


def _p(*inline: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def _t(text: str, **attrs: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if "href" in attrs:
        node["marks"] = [{"type": "link", "attrs": {"href": attrs["href"]}}]
    if attrs.get("strong"):
        node["marks"] = [{"type": "strong"}]
    return node


def _doc(*blocks: Any) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def test_adf_paragraphs_headings_marks_and_breaks() -> None:
    """Headings and paragraphs become blocks; links keep their address; hard breaks break."""
    doc = _doc(
        {"type": "heading", "attrs": {"level": 2}, "content": [_t("Problem")]},
        _p(
            _t("Tap "),
            _t("drips", strong=True),
            _t(", see "),
            _t("photo", href="https://x.test/p"),
            {"type": "hardBreak"},
            _t("thanks"),
        ),
    )
    assert adf_to_text(doc) == "Problem\n\nTap drips, see photo (https://x.test/p)\nthanks"


def test_adf_mentions_emoji_cards_status_and_dates() -> None:
    """Inline nodes without text of their own render as what a reader would see."""
    doc = _doc(
        _p(
            {"type": "mention", "attrs": {"id": "abc", "text": "@Joris Bakker"}},
            _t(" "),
            {"type": "mention", "attrs": {"id": "abc"}},
            _t(" "),
            {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
            _t(" "),
            {"type": "inlineCard", "attrs": {"url": "https://x.test/c"}},
            _t(" "),
            {"type": "status", "attrs": {"text": "DONE"}},
            _t(" "),
            {"type": "date", "attrs": {"timestamp": "1741910400000"}},
        )
    )
    assert adf_to_text(doc) == "@Joris Bakker @user 😄 https://x.test/c DONE 2025-03-14"


def test_adf_lists_nest_and_count() -> None:
    """Bullet, ordered (with start) and task lists keep nesting and numbering."""
    doc = _doc(
        {
            "type": "bulletList",
            "content": [
                {
                    "type": "listItem",
                    "content": [
                        _p(_t("one")),
                        {
                            "type": "orderedList",
                            "attrs": {"order": 3},
                            "content": [
                                {"type": "listItem", "content": [_p(_t("three"))]},
                                {"type": "listItem", "content": [_p(_t("four"))]},
                            ],
                        },
                    ],
                },
                {"type": "listItem", "content": [_p(_t("two"))]},
            ],
        },
        {
            "type": "taskList",
            "content": [
                {"type": "taskItem", "attrs": {"state": "DONE"}, "content": [_t("closed")]},
                {"type": "taskItem", "attrs": {"state": "TODO"}, "content": [_t("replace")]},
            ],
        },
    )
    assert adf_to_text(doc) == "- one\n  3. three\n  4. four\n- two\n\n[x] closed\n[ ] replace"


def test_adf_code_quote_table_panel_and_dropped_media() -> None:
    """Code stays verbatim, quotes get "> ", tables " | ", panels their text, media nothing."""
    cell = "tableCell"
    doc = _doc(
        {"type": "codeBlock", "content": [_t("x = 1\n  y = *2*")]},
        {"type": "blockquote", "content": [_p(_t("quoted"))]},
        {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "1"}}]},
        {"type": "rule"},
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableHeader", "content": [_p(_t("Room"))]},
                        {"type": "tableHeader", "content": [_p(_t("Issue"))]},
                    ],
                },
                {
                    "type": "tableRow",
                    "content": [
                        {"type": cell, "content": [_p(_t("B2.14"))]},
                        {"type": cell, "content": [_p(_t("leak"))]},
                    ],
                },
            ],
        },
        {"type": "panel", "attrs": {"panelType": "info"}, "content": [_p(_t("Note"))]},
    )
    assert adf_to_text(doc) == (
        "x = 1\n  y = *2*\n\n> quoted\n\nRoom | Issue\nB2.14 | leak\n\nNote"
    )


def test_adf_tolerates_unknown_and_malformed_nodes() -> None:
    """Unknown node types show their text; malformed parts are skipped, never raised on."""
    doc = _doc(
        {"type": "somethingNew", "content": [_p(_t("future"))]},
        "junk",
        {"type": "paragraph", "content": "not a list"},
        {"type": "paragraph", "content": [{"type": "text"}, 7]},
    )
    assert adf_to_text(doc) == "future"
    assert adf_to_text({"type": "doc"}) == ""


def test_plain_dispatches_on_type() -> None:
    """plain() takes wiki markup, an ADF document, or nothing at all."""
    assert plain("*a*") == "a"
    assert plain(_doc(_p(_t("b")))) == "b"
    assert plain(None) == ""
    assert plain(42) == ""


def test_non_ascii_is_kept_and_composed() -> None:
    """Accented text survives; decomposed accents are composed (NFC)."""
    assert plain("cafe\u0301 *à*") == "café à"
    assert plain("ã\u0083\u0086ã\u0082¹ã\u0083\u0088") == "ã\u0083\u0086ã\u0082¹ã\u0083\u0088"
