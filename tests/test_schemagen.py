"""The JSON Schema documents in schemas/: current, valid, and in agreement with the contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from adapter import schemagen
from adapter.bloxs.contract import (
    ContractViolation,
    validate_create,
    validate_done,
    validate_note,
    validate_update,
)

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"

CREATE = {
    "externalIdentifier": "JIRA-7",
    "reportingDate": "2026-12-04",
    "stateName": "Nieuw",
    "priority": 2,
    "description": "De cv-ketel geeft geen warm water meer.",
    "realEstateObjectReference": "OBJ-000123",
    "reporterReference": "REL-004567",
    "expectedCosts": None,
    "handledBySupplier": False,
}


def validator(name: str) -> Draft202012Validator:
    """A format-asserting validator for the committed document `name`."""
    doc = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return Draft202012Validator(doc, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_committed_schemas_are_current() -> None:
    """Every generated document in schemas/ matches what the code generates now."""
    outdated = schemagen.stale(SCHEMAS)
    assert not outdated, (
        f"stale in schemas/: {', '.join(outdated)}; regenerate with "
        "`./run bloxs-adapter schemas --write` (or `python -m adapter.schemagen`)"
    )


def test_stale_reports_missing_and_changed_files(tmp_path: Path) -> None:
    """stale() names missing and edited files and nothing once write_all has run."""
    names = list(schemagen.DOCUMENTS)
    assert schemagen.stale(tmp_path) == names
    written = schemagen.write_all(tmp_path)
    assert [p.name for p in written] == names
    assert schemagen.stale(tmp_path) == []
    (tmp_path / names[0]).write_text("{}\n", encoding="utf-8")
    assert schemagen.stale(tmp_path) == [names[0]]


def test_render_is_stable() -> None:
    """Rendering sorts keys, indents by two and ends in a newline."""
    assert schemagen.render({"b": 1, "a": [2, "é"]}) == (
        '{\n  "a": [\n    2,\n    "é"\n  ],\n  "b": 1\n}\n'
    )


@pytest.mark.parametrize("name", [n for n in schemagen.DOCUMENTS if n.endswith(".schema.json")])
def test_documents_are_valid_draft_2020_12(name: str) -> None:
    """Each document is itself a valid JSON Schema 2020-12 document."""
    doc = schemagen.DOCUMENTS[name]()
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(doc)


def test_create_schema_carries_the_contract() -> None:
    """The create document has the seed's lengths, enums, date format and required list."""
    doc = schemagen.DOCUMENTS["bloxs-create-service-ticket.schema.json"]()
    props = doc["properties"]
    assert doc["additionalProperties"] is False
    assert sorted(doc["required"]) == sorted(
        [
            "reportingDate",
            "stateName",
            "priority",
            "description",
            "realEstateObjectReference",
            "reporterReference",
        ]
    )
    assert props["description"]["maxLength"] == 512
    assert props["description"]["minLength"] == 1
    assert props["reporterExternalContactPersonEmail"]["maxLength"] == 254
    assert props["externalIdentifier"]["type"] == ["string", "null"]
    assert props["priority"]["enum"] == [1, 2, 3]
    assert props["reporterContactPersonType"]["enum"] == [0, 1]
    assert props["reportingDate"] == {"type": "string", "format": "date"}
    assert props["costsAreForTenant"]["type"] == "boolean"
    assert props["expectedCosts"]["type"] == ["number", "null"]


def test_response_schema_allows_unknown_fields() -> None:
    """The ticket response document tolerates fields Bloxs adds later."""
    doc = schemagen.DOCUMENTS["bloxs-service-ticket.schema.json"]()
    assert "additionalProperties" not in doc
    assert {"reference", "mandateAmount"} <= set(doc["properties"])
    validator("bloxs-service-ticket.schema.json").validate(
        {**CREATE, "reference": "ST-1", "mandateAmount": 10, "closingDate": None}
    )


def agree(name: str, check: Any, data: Any) -> bool:
    """Whether the document and the Marshmallow check give the same verdict on `data`."""
    by_document: bool = validator(name).is_valid(data)
    try:
        check(data)
    except ContractViolation:
        by_contract = False
    else:
        by_contract = True
    assert by_document == by_contract, f"document says {by_document}, contract {by_contract}"
    return by_document


def test_valid_create_passes_document_and_contract() -> None:
    """A valid create request passes the generated document as it passes the contract."""
    assert agree("bloxs-create-service-ticket.schema.json", validate_create, CREATE)


@pytest.mark.parametrize(
    "changes",
    [
        {"description": "é" * 513},
        {"priority": 4},
        {"priority": "2"},
        {"priority": True},
        {"unknownField": "x"},
        {"stateName": None},
        {"stateName": ""},
        {"stateName": "   "},
        {"externalIdentifier": "x" * 101},
        {"reportingDate": "04-12-2026"},
        {"reportingDate": "2026-13-01"},
        {"reporterContactPersonType": 2},
        {"expectedCosts": "12.5"},
        {"handledBySupplier": "true"},
    ],
)
def test_invalid_create_fails_document_and_contract(changes: dict[str, Any]) -> None:
    """An invalid create request fails the generated document as it fails the contract."""
    assert not agree("bloxs-create-service-ticket.schema.json", validate_create, CREATE | changes)


def test_missing_state_name_fails_document_and_contract() -> None:
    """A create request without stateName fails both."""
    data = {k: v for k, v in CREATE.items() if k != "stateName"}
    assert not agree("bloxs-create-service-ticket.schema.json", validate_create, data)


@pytest.mark.parametrize(
    ("name", "check", "data", "ok"),
    [
        ("bloxs-update-service-ticket.schema.json", validate_update, CREATE, True),
        ("bloxs-update-service-ticket.schema.json", validate_update, {"priority": 1}, False),
        (
            "bloxs-update-service-ticket.schema.json",
            validate_update,
            {**CREATE, "externalIdentifier": None},
            False,
        ),
        (
            "bloxs-update-service-ticket.schema.json",
            validate_update,
            {**CREATE, "reference": "ST-1", "externalIdentifier": None},
            True,
        ),
        ("bloxs-done.schema.json", validate_done, {"reference": "ST-1"}, True),
        ("bloxs-done.schema.json", validate_done, {"closingDate": None}, False),
        ("bloxs-done.schema.json", validate_done, {"externalIdentifier": ""}, False),
        (
            "bloxs-done.schema.json",
            validate_done,
            {"reference": "ST-1", "closingDate": "2026-12-04T10:00:00+01:00"},
            True,
        ),
        ("bloxs-note.schema.json", validate_note, {"reference": "ST-1", "message": "m"}, True),
        ("bloxs-note.schema.json", validate_note, {"reference": "ST-1", "message": ""}, False),
        ("bloxs-note.schema.json", validate_note, {"message": "m"}, False),
        (
            "bloxs-note.schema.json",
            validate_note,
            {"reference": "ST-1", "message": "m", "x": 1},
            False,
        ),
    ],
)
def test_other_documents_agree_with_contract(name: str, check: Any, data: Any, ok: bool) -> None:
    """Update, done and note documents give the contract's verdict, identifiers included."""
    assert agree(name, check, data) is ok
