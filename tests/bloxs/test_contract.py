"""The Bloxs contract schemas against every rule of the create page and bloxs-api.md §1.5, §3."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from marshmallow import ValidationError

from adapter.bloxs.contract import (
    CONTACT_PERSON_TYPES,
    PRIORITIES,
    SYSTEM_STATES,
    Category,
    ContractViolation,
    ProblemDetails,
    State,
    UpdateServiceTicket,
    read_ticket,
    ticket_to_update,
    validate_create,
    validate_done,
    validate_note,
    validate_update,
)

REQUIRED = {
    "reportingDate": "2026-12-04",
    "stateName": "Nieuw",
    "priority": 2,
    "description": "De cv-ketel geeft geen warm water meer.",
    "realEstateObjectReference": "OBJ-000123",
    "reporterReference": "REL-004567",
}

OPTIONAL_TEXT = [
    "externalIdentifier",
    "externalLink",
    "problemCategoryName",
    "costCategoryName",
    "reporterContactPersonReference",
    "reporterExternalContactPersonName",
    "reporterExternalContactPersonPhoneNumber",
    "reporterExternalContactPersonMobileNumber",
    "reporterExternalContactPersonEmail",
    "supplierReference",
]

# Every string field of the create request with the seed's "Max length".
MAX_LENGTHS = {
    "externalIdentifier": 100,
    "externalLink": 256,
    "stateName": 256,
    "problemCategoryName": 256,
    "costCategoryName": 256,
    "description": 512,
    "realEstateObjectReference": 100,
    "reporterReference": 100,
    "reporterContactPersonReference": 100,
    "reporterExternalContactPersonName": 256,
    "reporterExternalContactPersonPhoneNumber": 512,
    "reporterExternalContactPersonMobileNumber": 512,
    "reporterExternalContactPersonEmail": 254,
    "supplierReference": 100,
}

BOOLEANS = ["costsAreForTenant", "handledBySupplier"]
NUMBERS = ["expectedCosts"]


def create(**changes: Any) -> dict[str, Any]:
    """A valid create request with `changes` applied."""
    return {**REQUIRED, **changes}


def ticket(**changes: Any) -> dict[str, Any]:
    """A ticket as Bloxs returns it, with `changes` applied."""
    return {**REQUIRED, "reference": "ST-000042", "mandateAmount": 250.0, **changes}


def refused(call: Any, data: Any) -> dict[str, list[str]]:
    """The field errors `call` raises for `data`."""
    with pytest.raises(ContractViolation) as caught:
        call(data)
    return caught.value.errors


# --- create: required and optional fields ---------------------------------------------------


def test_minimal_create_passes_with_defaults() -> None:
    """Only the six required fields make a valid request; the rest get the seed's defaults."""
    out = validate_create(create())
    assert out == {
        **REQUIRED,
        **dict.fromkeys(OPTIONAL_TEXT),
        "costsAreForTenant": False,
        "handledBySupplier": False,
        "reporterContactPersonType": 0,
        "expectedCosts": None,
    }


def test_create_output_is_json_ready_and_in_contract_order() -> None:
    """The validated request serialises to JSON as-is and keeps the seed's field order."""
    out = validate_create(create(reportingDate=dt.date(2026, 12, 4)))
    assert json.loads(json.dumps(out)) == out
    assert out["reportingDate"] == "2026-12-04"
    assert list(out)[:4] == ["externalIdentifier", "externalLink", "reportingDate", "stateName"]


def test_full_create_passes_unchanged() -> None:
    """A request using every field passes and comes back unchanged."""
    full = create(
        **{name: f"v-{name}"[: MAX_LENGTHS[name]] for name in OPTIONAL_TEXT},
        costsAreForTenant=True,
        handledBySupplier=True,
        reporterContactPersonType=1,
        expectedCosts=99.95,
    )
    assert validate_create(full) == full


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_required_field_missing_fails(name: str) -> None:
    """Leaving out any required field is refused with that field named."""
    data = create()
    del data[name]
    assert "Missing data for required field." in refused(validate_create, data)[name]


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_required_field_null_fails(name: str) -> None:
    """A required field may not be null."""
    assert name in refused(validate_create, create(**{name: None}))


@pytest.mark.parametrize(
    "name", ["stateName", "description", "realEstateObjectReference", "reporterReference"]
)
@pytest.mark.parametrize("blank", ["", " ", "\t\n", "\u00a0"])
def test_required_string_blank_fails(name: str, blank: str) -> None:
    """A required string must hold a non-whitespace character (ASP.NET [Required])."""
    assert name in refused(validate_create, create(**{name: blank}))


@pytest.mark.parametrize("name", OPTIONAL_TEXT)
@pytest.mark.parametrize("value", [None, "", "x"])
def test_optional_string_accepts_null_empty_and_text(name: str, value: str | None) -> None:
    """Optional strings are `string | null` with min length 0."""
    assert validate_create(create(**{name: value}))[name] == value


@pytest.mark.parametrize("name", sorted(MAX_LENGTHS))
@pytest.mark.parametrize("value", [1, 1.5, True, ["a"], {"a": 1}])
def test_string_field_refuses_non_strings(name: str, value: Any) -> None:
    """A string field takes only a JSON string."""
    assert name in refused(validate_create, create(**{name: value}))


# --- create: lengths ------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["x", "é", "€", "😀"])
@pytest.mark.parametrize(("name", "limit"), sorted(MAX_LENGTHS.items()))
def test_string_at_max_length_passes(name: str, limit: int, char: str) -> None:
    """Exactly the maximum number of characters (not bytes) passes."""
    assert validate_create(create(**{name: char * limit}))[name] == char * limit


@pytest.mark.parametrize("char", ["x", "é"])
@pytest.mark.parametrize(("name", "limit"), sorted(MAX_LENGTHS.items()))
def test_string_over_max_length_fails(name: str, limit: int, char: str) -> None:
    """One character over the maximum is refused with that field named."""
    errors = refused(validate_create, create(**{name: char * (limit + 1)}))
    assert len(errors[name]) == 1
    assert str(limit) in errors[name][0]


# --- create: enums --------------------------------------------------------------------------


@pytest.mark.parametrize("value", sorted(PRIORITIES))
def test_priority_valid_values_pass(value: int) -> None:
    """Priority 1 (Low), 2 (Normal) and 3 (High) pass."""
    assert validate_create(create(priority=value))["priority"] == value


@pytest.mark.parametrize("value", [0, 4, -1, "2", 2.0, 2.5, True, False])
def test_priority_other_values_fail(value: Any) -> None:
    """Priority outside 1..3, as a string, as a float or as a boolean is refused."""
    assert "priority" in refused(validate_create, create(priority=value))


@pytest.mark.parametrize("value", sorted(CONTACT_PERSON_TYPES))
def test_contact_person_type_valid_values_pass(value: int) -> None:
    """reporterContactPersonType 0 (ExistingRelation) and 1 (External) pass."""
    data = create(reporterContactPersonType=value)
    assert validate_create(data)["reporterContactPersonType"] == value


@pytest.mark.parametrize("value", [2, -1, "1", 1.0, True, None])
def test_contact_person_type_other_values_fail(value: Any) -> None:
    """reporterContactPersonType outside 0|1, non-integer or null is refused."""
    errors = refused(validate_create, create(reporterContactPersonType=value))
    assert "reporterContactPersonType" in errors


# --- create: reportingDate ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2026-12-04", "2024-02-29", dt.date(2026, 12, 4)])
def test_reporting_date_valid_passes(value: Any) -> None:
    """A YYYY-MM-DD date (or a date object) passes and is sent as YYYY-MM-DD."""
    out = validate_create(create(reportingDate=value))["reportingDate"]
    assert out == (value.isoformat() if isinstance(value, dt.date) else value)


@pytest.mark.parametrize(
    "value",
    [
        "04-12-2026",
        "2026-13-01",
        "2025-02-29",
        "",
        "20261204",
        "2026-W49-5",
        "2026-12-04T10:00:00",
        "2026-12-04T10:00:00+01:00",
        " 2026-12-04",
        20261204,
        dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC),
    ],
)
def test_reporting_date_invalid_fails(value: Any) -> None:
    """Anything but a real calendar date written YYYY-MM-DD is refused."""
    assert refused(validate_create, create(reportingDate=value)) == {
        "reportingDate": ["Not a valid date."]
    }


# --- create: numbers and booleans -----------------------------------------------------------


@pytest.mark.parametrize("name", NUMBERS)
@pytest.mark.parametrize("value", [None, 0, 12.5, 1_000_000, -3])
def test_number_valid_passes(name: str, value: float | None) -> None:
    """expectedCosts is a nullable JSON number."""
    assert validate_create(create(**{name: value}))[name] == value


@pytest.mark.parametrize("name", NUMBERS)
@pytest.mark.parametrize("value", ["12.5", "", True, float("nan"), float("inf"), [1]])
def test_number_invalid_fails(name: str, value: Any) -> None:
    """A numeric string, a boolean, NaN or Infinity is not a number."""
    assert name in refused(validate_create, create(**{name: value}))


@pytest.mark.parametrize("name", BOOLEANS)
@pytest.mark.parametrize("value", [True, False])
def test_boolean_valid_passes(name: str, value: bool) -> None:
    """Booleans take JSON true and false."""
    assert validate_create(create(**{name: value}))[name] is value


@pytest.mark.parametrize("name", BOOLEANS)
@pytest.mark.parametrize("value", ["true", "false", 1, 0, "yes", "on", None])
def test_boolean_invalid_fails(name: str, value: Any) -> None:
    """Booleans refuse strings, numbers and null (System.Text.Json does too)."""
    assert name in refused(validate_create, create(**{name: value}))


# --- create: shape --------------------------------------------------------------------------


@pytest.mark.parametrize("extra", ["reference", "mandateAmount", "Description", "foo"])
def test_create_refuses_unknown_fields(extra: str) -> None:
    """A create request with a field the contract does not list is refused."""
    assert refused(validate_create, create(**{extra: "x"})) == {extra: ["Unknown field."]}


@pytest.mark.parametrize("data", [None, [], "ticket", 1])
def test_create_refuses_non_objects(data: Any) -> None:
    """The body must be a JSON object."""
    assert refused(validate_create, data) == {"_schema": ["Invalid input type."]}


def test_create_reports_every_failing_field_at_once() -> None:
    """All field errors come back together, like Bloxs's own 400 body."""
    errors = refused(validate_create, {"priority": 9, "description": "é" * 513})
    assert set(errors) == set(REQUIRED)
    assert str(errors["priority"][0]).startswith("Must be one of")


def test_contract_violation_names_what_failed() -> None:
    """The exception message says which message failed and why."""
    with pytest.raises(ContractViolation, match="create request does not fit"):
        validate_create(create(priority=4))


# --- responses ------------------------------------------------------------------------------


def test_read_ticket_passes_and_fills_defaults() -> None:
    """A ticket response is read with reference, mandateAmount and the defaults."""
    out = read_ticket(ticket())
    assert out["reference"] == "ST-000042"
    assert out["mandateAmount"] == 250.0
    assert out["handledBySupplier"] is False


def test_read_ticket_drops_unknown_fields() -> None:
    """Fields Bloxs adds to the PREVIEW response are tolerated and dropped."""
    out = read_ticket(ticket(closingDate="2026-12-05T10:00:00+01:00", files=[]))
    assert "closingDate" not in out
    assert "files" not in out


@pytest.mark.parametrize(("name", "value"), [("mandateAmount", None), ("mandateAmount", 0)])
def test_read_ticket_mandate_amount_nullable_number(name: str, value: Any) -> None:
    """mandateAmount is a nullable number."""
    assert read_ticket(ticket(**{name: value}))[name] == value


@pytest.mark.parametrize(
    "changes",
    [
        {"reference": None},
        {"reference": "r" * 101},
        {"mandateAmount": "250"},
        {"mandateAmount": float("nan")},
        {"priority": 7},
    ],
)
def test_read_ticket_refuses_contract_breaks(changes: dict[str, Any]) -> None:
    """A response breaking the contract is refused, not silently used."""
    data = ticket(**changes)
    assert set(changes) <= set(refused(read_ticket, data))


def test_read_ticket_requires_reference() -> None:
    """A ticket without its Bloxs reference is refused."""
    data = ticket()
    del data["reference"]
    assert "reference" in refused(read_ticket, data)


# --- update ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ids",
    [
        {"reference": "ST-000042"},
        {"externalIdentifier": "JIRA-7"},
        {"reference": "ST-000042", "externalIdentifier": "JIRA-7"},
    ],
)
def test_update_with_an_identifier_passes(ids: dict[str, str]) -> None:
    """An update naming the ticket by reference and/or externalIdentifier passes."""
    out = validate_update(create(**ids))
    assert {k: out[k] for k in ids} == ids


@pytest.mark.parametrize(
    "ids", [{}, {"reference": None}, {"reference": "", "externalIdentifier": ""}]
)
def test_update_without_an_identifier_fails(ids: dict[str, Any]) -> None:
    """An update that names no ticket is refused."""
    assert "reference" in refused(validate_update, create(**ids))


def test_update_checks_the_ticket_fields() -> None:
    """An update is held to the same field rules as a create."""
    assert "priority" in refused(validate_update, create(reference="ST-1", priority=4))


def test_update_refuses_unknown_fields() -> None:
    """Response-only fields such as mandateAmount may not be sent in a PUT."""
    errors = refused(validate_update, create(reference="ST-1", mandateAmount=1.0))
    assert errors == {"mandateAmount": ["Unknown field."]}


def test_ticket_to_update_round_trips() -> None:
    """A read ticket turned into a PUT body passes validate_update unchanged."""
    body = ticket_to_update(read_ticket(ticket()))
    assert "mandateAmount" not in body
    assert set(body) == set(UpdateServiceTicket().fields)
    assert validate_update(body) == body


# --- done -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("closing", "sent"),
    [
        (None, None),
        ("2026-12-04T10:00:00+01:00", "2026-12-04T10:00:00+01:00"),
        ("2026-12-04T09:00:00Z", "2026-12-04T09:00:00+00:00"),
        ("2026-12-04T09:00:00.5-02:00", "2026-12-04T09:00:00.500000-02:00"),
        (dt.datetime(2026, 12, 4, 9, tzinfo=dt.UTC), "2026-12-04T09:00:00+00:00"),
    ],
)
def test_done_closing_date_aware_passes(closing: Any, sent: str | None) -> None:
    """closingDate is optional; given, an aware date-time is sent in ISO 8601 with offset."""
    out = validate_done({"reference": "ST-1", "closingDate": closing})
    assert out == {"reference": "ST-1", "externalIdentifier": None, "closingDate": sent}


def test_done_without_closing_date_passes() -> None:
    """closingDate may be left out."""
    assert validate_done({"externalIdentifier": "JIRA-7"})["closingDate"] is None


@pytest.mark.parametrize(
    "closing",
    [
        "2026-12-04T10:00:00",
        dt.datetime(2026, 12, 4, 10),
        "2026-12-04",
        "04-12-2026 10:00",
        "2026-12-04 10:00:00+01:00",
        "20261204T100000+0100",
        "",
        1764835200,
    ],
)
def test_done_closing_date_invalid_fails(closing: Any) -> None:
    """A naive, date-only or otherwise non-RFC 3339 closingDate is refused."""
    assert "closingDate" in refused(validate_done, {"reference": "ST-1", "closingDate": closing})


@pytest.mark.parametrize(
    "data",
    [{}, {"closingDate": None}, {"reference": None, "externalIdentifier": ""}],
)
def test_done_without_an_identifier_fails(data: dict[str, Any]) -> None:
    """Done must name the ticket by reference or externalIdentifier."""
    assert "reference" in refused(validate_done, data)


@pytest.mark.parametrize(
    "data",
    [
        {"reference": "ST-1", "stateName": "Gereed"},
        {"reference": "r" * 101},
        {"externalIdentifier": "e" * 101},
    ],
)
def test_done_refuses_unknown_fields_and_long_ids(data: dict[str, Any]) -> None:
    """Done takes only reference, externalIdentifier (≤ 100) and closingDate."""
    assert refused(validate_done, data)


# --- note -----------------------------------------------------------------------------------


@pytest.mark.parametrize("message", ["x", " ", "é" * 5000])
def test_note_message_passes(message: str) -> None:
    """A note message of at least one character passes (no maximum is documented)."""
    out = validate_note({"reference": "ST-1", "message": message})
    assert out == {"reference": "ST-1", "externalIdentifier": None, "message": message}


@pytest.mark.parametrize("message", ["", None, 5])
def test_note_message_invalid_fails(message: Any) -> None:
    """An empty, null or non-string message is refused."""
    errors = refused(validate_note, {"reference": "ST-1", "message": message})
    assert "message" in errors


def test_note_message_missing_fails() -> None:
    """message is required."""
    errors = refused(validate_note, {"reference": "ST-1"})
    assert errors == {"message": ["Missing data for required field."]}


@pytest.mark.parametrize("data", [{"message": "m"}, {"message": "m", "reference": ""}])
def test_note_without_an_identifier_fails(data: dict[str, Any]) -> None:
    """A note must name the ticket by reference or externalIdentifier."""
    assert "reference" in refused(validate_note, data)


def test_note_refuses_unknown_fields() -> None:
    """A note takes only reference, externalIdentifier and message."""
    errors = refused(validate_note, {"reference": "ST-1", "message": "m", "author": "x"})
    assert errors == {"author": ["Unknown field."]}


# --- lists and errors -----------------------------------------------------------------------


def test_states_list_reads_system_states_and_user_states() -> None:
    """States carry systemState 1..4, or null (or nothing) for user-made states."""
    body: list[dict[str, Any]] = [
        *({"name": label, "systemState": value} for value, label in SYSTEM_STATES.items()),
        {"name": "Wacht op offerte", "systemState": None},
        {"name": "Ingepland"},
        {"name": "Extra", "systemState": 2, "isDefault": True},
    ]
    states = State(many=True).load(body)
    assert [s["systemState"] for s in states] == [1, 2, 3, 4, None, None, 2]
    assert states[-1] == {"name": "Extra", "systemState": 2}


@pytest.mark.parametrize("value", [0, 5, "1", 1.0, True])
def test_states_list_refuses_other_system_states(value: Any) -> None:
    """A systemState outside 1..4 or not an integer is refused."""
    with pytest.raises(ValidationError, match="systemState"):
        State(many=True).load([{"name": "X", "systemState": value}])


def test_category_list_reads_names() -> None:
    """Category items are {name: string | null}; extra fields are dropped."""
    body: list[dict[str, Any]] = [
        {"name": "Reparatie"},
        {"name": None},
        {"name": "Vervanging", "systemState": 1},
    ]
    assert Category(many=True).load(body) == [
        {"name": "Reparatie"},
        {"name": None},
        {"name": "Vervanging"},
    ]


def test_problem_details_400_body_parses() -> None:
    """A Bloxs 400 body (ASP.NET problem details) gives the field error map."""
    body = {
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "traceId": "00-4f1c9f6bd1a04a8e9d3b0c2a1e5f7d21-8a3b2c1d0e9f8a7b-00",
        "errors": {
            "StateName": ["The StateName field is required."],
            "Description": ["The field Description must be a string with a maximum length of 512."],
        },
    }
    problem = ProblemDetails().load(body)
    assert problem == body


@pytest.mark.parametrize(
    "body",
    [{}, {"type": None, "title": None, "traceId": None, "status": 404, "errors": None}],
)
def test_problem_details_nullable_fields_parse(body: dict[str, Any]) -> None:
    """Every problem-details field but status is nullable; all may be missing."""
    problem = ProblemDetails().load(body)
    assert problem["errors"] is None
    assert problem["title"] is None


def test_problem_details_drops_unknown_fields() -> None:
    """Extension members of problem details are dropped, not refused."""
    assert ProblemDetails().load({"status": 400, "instance": "/x"}) == {
        "type": None,
        "title": None,
        "traceId": None,
        "status": 400,
        "errors": None,
    }


def test_problem_details_refuses_malformed_errors() -> None:
    """errors must map property names to lists of strings."""
    with pytest.raises(ValidationError, match="errors"):
        ProblemDetails().load({"status": 400, "errors": {"StateName": "required"}})
