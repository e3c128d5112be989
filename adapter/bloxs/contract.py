"""The Bloxs service-ticket contract as Marshmallow schemas.

Source: the "Create a service ticket" page (PREVIEW, 09 May 2025) for the create request and
response, and the Done / Notes / States / Costs categories pages (see README, "Bloxs contract").
Nothing is sent to Bloxs without passing `validate_*` below, and the sandbox validates what it
receives with the same schemas, so a mapping that passes here is one Bloxs accepts.

Two deliberate readings of the seed:
- A *required* string must be non-empty: ASP.NET's [Required] (Bloxs is an ASP.NET API: its
  400 body is ASP.NET problem details) refuses "" although the generated docs print "Min
  length 0".
  [Required] also refuses a string of only whitespace, so such a string is refused here too.
- Types are strict: "2" is not a priority and "true" is not a boolean. System.Text.Json,
  which Bloxs uses, refuses both. Dates are text in the one shape System.Text.Json and JSON
  Schema's "date" / "date-time" formats share (RFC 3339: 2026-12-04, 2026-12-04T10:00:00+01:00);
  Python's fromisoformat alone would also take 20261204 or 2026-W49-5.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

PRIORITIES = {1: "Low", 2: "Normal", 3: "High"}
CONTACT_PERSON_TYPES = {0: "ExistingRelation", 1: "External"}
SYSTEM_STATES = {1: "Active", 2: "OnHold", 3: "SignedOff", 4: "Done"}


class StrictBoolean(fields.Boolean):
    """Only JSON true/false; marshmallow's Boolean would also take "yes", 1, "on"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictNumber(fields.Float):
    """A JSON number (int or float, not bool, not a numeric string, not NaN/Infinity)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if not math.isfinite(value):
            raise self.make_error("special")
        return value


class StrictDate(fields.Date):
    """An RFC 3339 full-date ("2026-12-04") or a `date`; a `datetime` is refused because the
    day it names depends on a time zone the caller must choose (DESIGN: "Dates")."""

    _SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, dt.datetime):
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        if isinstance(value, str) and not self._SHAPE.fullmatch(value):
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        return super()._deserialize(value, attr, data, **kwargs)


class StrictAwareDateTime(fields.AwareDateTime):
    """An RFC 3339 date-time with an offset, or an aware `datetime` (a naive one is refused
    by AwareDateTime with its own message)."""

    _SHAPE = re.compile(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?", re.ASCII
    )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and not self._SHAPE.fullmatch(value):
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        return super()._deserialize(value, attr, data, **kwargs)


# ASP.NET's [Required] refuses whitespace-only strings (string.IsNullOrWhiteSpace). Written as a
# pattern so the generated JSON Schema carries the same rule; "\s*\S" anchored at the start (as
# marshmallow matches) accepts exactly what "\S" unanchored (as JSON Schema searches) accepts.
_NOT_BLANK = validate.Regexp(r"\s*\S", error="Must not be blank.")


def _text(max_length: int, *, required: bool = False) -> fields.String:
    if required:
        return fields.String(
            required=True,
            allow_none=False,
            validate=[validate.Length(min=1, max=max_length), _NOT_BLANK],
            metadata={"maxLength": max_length},
        )
    return fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=max_length),
        metadata={"maxLength": max_length},
    )


def _choice(values: dict[int, str], *, required: bool = False, default: int | None = None) -> Any:
    kwargs: dict[str, Any] = {"required": True} if required else {"load_default": default}
    return fields.Integer(
        strict=True,
        validate=validate.OneOf(list(values)),
        metadata={"description": ", ".join(f"{k} = {v}" for k, v in values.items())},
        **kwargs,
    )


class _Strict(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


class ServiceTicketFields(_Strict):
    """The fields shared by create, update and the ticket Bloxs returns."""

    externalIdentifier = _text(100)
    externalLink = _text(256)
    reportingDate = StrictDate(required=True)
    stateName = _text(256, required=True)
    priority = _choice(PRIORITIES, required=True)
    problemCategoryName = _text(256)
    costsAreForTenant = StrictBoolean(load_default=False)
    costCategoryName = _text(256)
    description = _text(512, required=True)
    realEstateObjectReference = _text(100, required=True)
    reporterReference = _text(100, required=True)
    reporterContactPersonReference = _text(100)
    reporterContactPersonType = _choice(CONTACT_PERSON_TYPES, default=0)
    reporterExternalContactPersonName = _text(256)
    reporterExternalContactPersonPhoneNumber = _text(512)
    reporterExternalContactPersonMobileNumber = _text(512)
    reporterExternalContactPersonEmail = _text(254)
    supplierReference = _text(100)
    handledBySupplier = StrictBoolean(load_default=False)
    expectedCosts = StrictNumber(load_default=None, allow_none=True)


class CreateServiceTicket(ServiceTicketFields):
    """POST /api/v1/maintenance/servicetickets"""


class ServiceTicket(ServiceTicketFields):
    """The ticket as Bloxs returns it from create, get, update and done."""

    class Meta:
        # Bloxs may add fields to a PREVIEW endpoint's response; reading must not break then.
        unknown = "exclude"
        ordered = True

    reference = _text(100, required=True)
    mandateAmount = StrictNumber(load_default=None, allow_none=True)


class UpdateServiceTicket(ServiceTicketFields):
    """PUT /api/v1/maintenance/servicetickets: a full overwrite, identified by reference
    and/or externalIdentifier (both given must name the same ticket)."""

    reference = _text(100)


class DoneServiceTicket(_Strict):
    """POST /api/v1/maintenance/servicetickets/done"""

    reference = _text(100)
    externalIdentifier = _text(100)
    closingDate = StrictAwareDateTime(load_default=None, allow_none=True)


class ServiceTicketNote(_Strict):
    """POST /api/v1/maintenance/servicetickets/notes"""

    reference = _text(100)
    externalIdentifier = _text(100)
    message = fields.String(required=True, validate=validate.Length(min=1))


class State(Schema):
    """An item of GET .../servicetickets/states; systemState is null for user-made states."""

    class Meta:
        unknown = "exclude"

    name = fields.String(allow_none=True, load_default=None)
    systemState = fields.Integer(
        strict=True, allow_none=True, load_default=None, validate=validate.OneOf(SYSTEM_STATES)
    )


class Category(Schema):
    """An item of the cost / problem category lists."""

    class Meta:
        unknown = "exclude"

    name = fields.String(allow_none=True, load_default=None)


class ProblemDetails(Schema):
    """Bloxs's 400 (and note 404) body: ASP.NET problem details."""

    class Meta:
        unknown = "exclude"

    type = fields.String(allow_none=True, load_default=None)
    title = fields.String(allow_none=True, load_default=None)
    traceId = fields.String(allow_none=True, load_default=None)
    status = fields.Integer(load_default=None, allow_none=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        allow_none=True,
        load_default=None,
    )


class ContractViolation(ValueError):
    """A request or response that does not fit the contract; `errors` is {field: [messages]}."""

    def __init__(self, what: str, errors: dict[str, list[str]]) -> None:
        super().__init__(f"{what} does not fit the Bloxs contract: {errors}")
        self.errors = errors


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(messages, dict):
        out: dict[str, list[str]] = {}
        for key, value in messages.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(messages, list):
        return {prefix or "$": [str(m) for m in messages]}
    return {prefix or "$": [str(messages)]}


def _check(schema: Schema, data: Any, what: str) -> dict[str, Any]:
    try:
        loaded = schema.load(data)
    except ValidationError as exc:
        raise ContractViolation(what, _flatten(exc.messages)) from exc
    dumped: dict[str, Any] = schema.dump(loaded)
    return dumped


def _one_identifier(data: dict[str, Any], what: str) -> None:
    if not data.get("reference") and not data.get("externalIdentifier"):
        raise ContractViolation(
            what, {"reference": ["Either reference or externalIdentifier must have a value."]}
        )


def validate_create(data: Any) -> dict[str, Any]:
    """The create request as it will be sent (JSON-ready), or ContractViolation."""
    return _check(CreateServiceTicket(), data, "create request")


def validate_update(data: Any) -> dict[str, Any]:
    checked = _check(UpdateServiceTicket(), data, "update request")
    _one_identifier(checked, "update request")
    return checked


def validate_done(data: Any) -> dict[str, Any]:
    checked = _check(DoneServiceTicket(), data, "done request")
    _one_identifier(checked, "done request")
    return checked


def validate_note(data: Any) -> dict[str, Any]:
    checked = _check(ServiceTicketNote(), data, "note request")
    _one_identifier(checked, "note request")
    return checked


def read_ticket(data: Any) -> dict[str, Any]:
    """A ticket from a Bloxs response, checked (unknown extra fields are dropped)."""
    return _check(ServiceTicket(), data, "service ticket response")


def ticket_to_update(ticket: dict[str, Any]) -> dict[str, Any]:
    """The PUT body that rewrites `ticket` unchanged: its fields less the response-only ones."""
    return {k: v for k, v in ticket.items() if k in UpdateServiceTicket().fields}
