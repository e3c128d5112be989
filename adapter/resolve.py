"""From an Event to Bloxs requests: lookups, value names, the contract. Pure code.

The dispatcher calls `build_create` / `merge_update` with what it read from the store, the
lookup tables and Bloxs's lists; anything a person must fix raises `Park` with a sentence
that says what is missing and where to add it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from adapter.bloxs.contract import ContractViolation, validate_create, validate_update
from adapter.errors import Park
from adapter.events import SYSTEM_STATES, Event, StateRef
from adapter.settings import SourceSettings


class ReporterRow(Protocol):
    @property
    def reference(self) -> str: ...
    @property
    def contact_person_reference(self) -> str | None: ...
    @property
    def default_object(self) -> str | None: ...


class Lookups(Protocol):
    def reporter(self, key: str) -> ReporterRow | None: ...
    def object(self, key: str) -> str | None: ...


@dataclass(frozen=True)
class Catalog:
    """Bloxs's own name lists. `None` for a list means "not known": the check is skipped
    (the problem-category list path is undocumented and may not exist; `translate --offline`
    reads no list at all and shows a state chosen by systemState as a placeholder)."""

    states: Sequence[tuple[str, int | None]] | None = ()
    cost_categories: Sequence[str] | None = None
    problem_categories: Sequence[str] | None = None
    fetched_at: float = 0.0
    notes: tuple[str, ...] = field(default=())


def _fold(value: str) -> str:
    return " ".join(value.split()).casefold()


def _canonical(name: str, known: Sequence[str]) -> str | None:
    wanted = _fold(name)
    for candidate in known:
        if _fold(candidate) == wanted:
            return candidate
    return None


def resolve_state(state: StateRef | None, catalog: Catalog, source: SourceSettings) -> str:
    if catalog.states is None:
        if state is not None and state.name:
            return state.name
        if state is not None and state.system:
            return f"<the Bloxs state with systemState {state.system}>"
        return source.default_state or "<the first Bloxs state with systemState Active>"
    names = [name for name, _ in catalog.states]
    if state is not None and state.name:
        found = _canonical(state.name, names)
        if found is None:
            raise Park(
                f"State '{state.name}' is not a Bloxs state (known: {', '.join(names) or 'none'});"
                f" fix status_map of source '{source.name}'."
            )
        return found
    if state is not None and state.system:
        number = SYSTEM_STATES[state.system]
        for name, system in catalog.states:
            if system == number:
                return name
        raise Park(f"Bloxs has no state with systemState {state.system} ({number}).")
    if source.default_state:
        found = _canonical(source.default_state, names)
        if found is None:
            raise Park(
                f"default_state '{source.default_state}' of source '{source.name}' is not a"
                f" Bloxs state (known: {', '.join(names) or 'none'})."
            )
        return found
    for name, system in catalog.states:
        if system == SYSTEM_STATES["Active"]:
            return name
    raise Park("Bloxs lists no Active state and the source has no default_state.")


def _category(value: Any, known: Sequence[str] | None, what: str) -> str | None:
    if value is None:
        return None
    if known is None:
        return str(value)
    found = _canonical(str(value), known)
    if found is None:
        raise Park(f"{what} '{value}' is not known to Bloxs (known: {', '.join(known)}).")
    return found


def resolve_reporter(event: Event, lookups: Lookups, source: SourceSettings) -> dict[str, Any]:
    """The reporter fields: a known relation, else the default relation with the person's
    own name, e-mail and phone as external contact person."""
    person = event.reporter
    keys = person.keys if person else ()
    for key in keys:
        row = lookups.reporter(key)
        if row is not None:
            out: dict[str, Any] = {
                "reporterReference": row.reference,
                "reporterContactPersonType": 0,
            }
            if row.contact_person_reference:
                out["reporterContactPersonReference"] = row.contact_person_reference
            return out
    if not source.default_reporter:
        tried = ", ".join(f"'{k}'" for k in keys) or "no key in the event"
        raise Park(
            f"Reporter not found in the reporters table (tried {tried}) and source"
            f" '{source.name}' has no default_reporter."
        )
    out = {"reporterReference": source.default_reporter, "reporterContactPersonType": 1}
    if person is not None:
        if person.name:
            out["reporterExternalContactPersonName"] = person.name[:256]
        if person.email:
            out["reporterExternalContactPersonEmail"] = person.email[:254]
        if person.phone:
            out["reporterExternalContactPersonPhoneNumber"] = person.phone[:512]
    return out


def resolve_object(event: Event, lookups: Lookups) -> str:
    """The object the event names; the reporter's default object only when it names none.

    A key that the event carries but the table lacks parks the delivery: falling back to the
    reporter's default would file the repair under the wrong building.
    """
    for key in event.object_keys:
        reference = lookups.object(key)
        if reference is not None:
            return reference
    if event.object_keys:
        keys = ", ".join(f"'{k}'" for k in event.object_keys)
        raise Park(f"Object key {keys} not found in the objects table; add it and replay.")
    if event.reporter is not None:
        for key in event.reporter.keys:
            row = lookups.reporter(key)
            if row is not None and row.default_object:
                return row.default_object
    raise Park(
        "The event names no real estate object and the reporter has no default object;"
        " add an object code to the source or a default_object to the reporters table."
    )


def precheck(event: Event, lookups: Lookups, source: SourceSettings) -> str | None:
    """At intake, the reason a create cannot be mapped with the current tables, if any."""
    if event.kind != "create":
        return None
    try:
        resolve_reporter(event, lookups, source)
        resolve_object(event, lookups)
    except Park as exc:
        return exc.reason
    return None


def _ticket_fields(event: Event, catalog: Catalog, source: SourceSettings) -> dict[str, Any]:
    fields = dict(event.fields)
    out: dict[str, Any] = {}
    for key in ("description", "externalLink", "reportingDate", "expectedCosts"):
        if fields.get(key) is not None:
            out[key] = fields[key]
    out["priority"] = fields.get("priority") or source.default_priority
    problem = _category(
        fields.get("problemCategoryName"), catalog.problem_categories, "Problem category"
    )
    cost = _category(fields.get("costCategoryName"), catalog.cost_categories, "Cost category")
    if problem:
        out["problemCategoryName"] = problem
    if cost:
        out["costCategoryName"] = cost
    return out


def _contract_park(exc: ContractViolation) -> Park:
    details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
    return Park(f"The Bloxs request would be invalid: {details}")


def build_create(
    event: Event, lookups: Lookups, catalog: Catalog, source: SourceSettings
) -> dict[str, Any]:
    """The create request for `event`, checked against the contract."""
    request: dict[str, Any] = {"externalIdentifier": event.external_id}
    request.update(_ticket_fields(event, catalog, source))
    request["stateName"] = resolve_state(event.state, catalog, source)
    request.update(resolve_reporter(event, lookups, source))
    request["realEstateObjectReference"] = resolve_object(event, lookups)
    if not request.get("description"):
        request["description"] = event.summary or event.external_id or "(no description)"
    try:
        return validate_create(request)
    except ContractViolation as exc:
        raise _contract_park(exc) from exc


def merge_update(
    current: Mapping[str, Any], event: Event, catalog: Catalog, source: SourceSettings
) -> dict[str, Any] | None:
    """The full PUT body: the ticket as Bloxs has it, with the fields the event changed.
    None when nothing would change (no request is sent then)."""
    wanted = _ticket_fields(event, catalog, source)
    merged = {k: v for k, v in current.items() if k != "mandateAmount"}
    for name in event.changed:
        if name == "state":
            merged["stateName"] = resolve_state(event.state, catalog, source)
        elif name in wanted:
            merged[name] = wanted[name]
    if all(merged.get(k) == current.get(k) for k in merged):
        return None
    try:
        return validate_update(merged)
    except ContractViolation as exc:
        raise _contract_park(exc) from exc
