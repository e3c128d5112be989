"""The Event: what one authentic webhook delivery means, independent of its source.

A source module turns (headers, raw body) into exactly one Event. Events are plain data:
they are stored as JSON with the delivery and resolved against the lookup tables and
Bloxs's lists only when the dispatcher sends them, so that a fixed lookup table and a
replay are enough to get a parked delivery through.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

EventKind = Literal["create", "update", "close", "note", "ignore"]
SystemState = Literal["Active", "OnHold", "SignedOff", "Done"]

EVENT_KINDS: tuple[str, ...] = get_args(EventKind)
SYSTEM_STATES: dict[str, int] = {"Active": 1, "OnHold": 2, "SignedOff": 3, "Done": 4}


@dataclass(frozen=True)
class Person:
    """Who reported the ticket, as the source knows them.

    `keys` are tried in order against the reporters table (for Jira: the accountId, then
    the e-mail address); name, e-mail and phone fill the external contact person fields
    when no key is found and the source's default relation is used.
    """

    keys: tuple[str, ...] = ()
    name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class StateRef:
    """A Bloxs state, either by its configured name or by Bloxs's systemState."""

    name: str | None = None
    system: SystemState | None = None


@dataclass(frozen=True)
class Event:
    """One delivery's meaning.

    `fields` holds the Bloxs service-ticket fields the source could determine itself
    (description, externalLink, reportingDate as an ISO date, priority, problemCategoryName,
    costCategoryName, ...). Reporter, object and state are resolved later.
    `changed` names the `fields` keys (and "state") that an update actually changes.
    `notes_after_create` are posted as notes right after the ticket is created: the whole
    description when `fields["description"]` had to be shortened, an attachments list, ...
    `thread_ids` are external ids this message answers (e-mail In-Reply-To / References):
    the intake turns a create that answers a known ticket into a note on it.
    """

    kind: EventKind
    source: str
    delivery_key: str
    external_id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    changed: tuple[str, ...] = ()
    state: StateRef | None = None
    reporter: Person | None = None
    object_keys: tuple[str, ...] = ()
    note: str | None = None
    notes_after_create: tuple[str, ...] = ()
    thread_ids: tuple[str, ...] = ()
    ignore_reason: str | None = None
    summary: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        data = dict(data)
        state = data.pop("state", None)
        reporter = data.pop("reporter", None)
        return cls(
            state=StateRef(**state) if state else None,
            reporter=Person(**{**reporter, "keys": tuple(reporter.get("keys", ()))})
            if reporter
            else None,
            changed=tuple(data.pop("changed", ())),
            object_keys=tuple(data.pop("object_keys", ())),
            notes_after_create=tuple(data.pop("notes_after_create", ())),
            thread_ids=tuple(data.pop("thread_ids", ())),
            **data,
        )


def ignored(source: str, delivery_key: str, reason: str) -> Event:
    """An event we do not act on: answered 202 with the reason, not stored."""
    return Event(kind="ignore", source=source, delivery_key=delivery_key, ignore_reason=reason)
