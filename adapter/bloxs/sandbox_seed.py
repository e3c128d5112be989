"""The records every Bloxs sandbox starts with.

Example lookup tables, the tests and the README use these exact references and names, so
change them only together with those. States and categories are the Dutch names a Bloxs
environment shows; `systemState` follows GET .../servicetickets/states (1 Active, 2 OnHold,
3 SignedOff, 4 Done, null for a state an admin made).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Relation:
    """A Bloxs relation: a valid reporterReference / reporterContactPersonReference."""

    reference: str
    name: str
    kind: str  # "person" or "organisation"
    role: str | None = None  # "tenant", "contact person", "generic reporter"
    contact_person_of: str | None = None  # the organisation's reference, for contact persons


@dataclass(frozen=True)
class Supplier:
    """A Bloxs supplier relation: a valid supplierReference."""

    reference: str
    name: str


@dataclass(frozen=True)
class RealEstateObject:
    """A Bloxs real estate object: a valid realEstateObjectReference."""

    reference: str
    name: str
    kind: str  # "unit" or "complex"
    code: str


@dataclass(frozen=True)
class TicketState:
    """An item of GET .../servicetickets/states."""

    name: str
    system_state: int | None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "systemState": self.system_state}


SEED_RELATIONS: tuple[Relation, ...] = (
    Relation("100001", "Jansen Vastgoedbeheer B.V.", "organisation"),
    Relation("100002", "Fatima el Amrani", "person", role="tenant"),
    Relation("100003", "Pieter de Vries", "person", role="tenant"),
    Relation("100004", "Huurdersvereniging De Linden", "organisation"),
    Relation("100005", "Sanne Bakker", "person", role="contact person", contact_person_of="100004"),
    # The relation a source falls back to when it cannot identify the reporter; the person's
    # own details then go into the reporterExternalContactPerson* fields.
    Relation("100099", "Onbekende melder", "organisation", role="generic reporter"),
)

SEED_SUPPLIERS: tuple[Supplier, ...] = (
    Supplier("200001", "Installatiebedrijf Van Dijk"),
    Supplier("200002", "Glaszetterij Noord"),
    Supplier("200003", "Loodgietersbedrijf Mulder"),
)

SEED_OBJECTS: tuple[RealEstateObject, ...] = (
    RealEstateObject("300001", "Lindenlaan 12, Utrecht", "unit", "LL12"),
    RealEstateObject("300002", "Lindenlaan 14, Utrecht", "unit", "LL14"),
    RealEstateObject("300003", "Complex De Linden", "complex", "CDL"),
    RealEstateObject("300010", "Kerkstraat 5A, Amersfoort", "unit", "KS5A"),
    RealEstateObject("300011", "Kerkstraat 5B, Amersfoort", "unit", "KS5B"),
)

SEED_STATES: tuple[TicketState, ...] = (
    TicketState("Nieuw", 1),
    TicketState("In behandeling", 1),
    TicketState("Wacht op leverancier", 2),
    TicketState("Afgemeld", 3),
    TicketState("Gereed", 4),
    TicketState("Offerte aangevraagd", None),
)

SEED_COST_CATEGORIES: tuple[str, ...] = (
    "Reparatie",
    "Vervanging",
    "Servicekosten",
    "Huurderskosten",
    "Planmatig onderhoud",
)

SEED_PROBLEM_CATEGORIES: tuple[str, ...] = (
    "Elektra",
    "Loodgieterswerk",
    "Verwarming",
    "Kozijnen en glas",
    "Dak",
    "Overig",
)


def seed_as_json() -> dict[str, Any]:
    """The seed as GET /_sandbox/seed answers it."""
    return {
        "relations": [asdict(r) for r in SEED_RELATIONS],
        "suppliers": [asdict(s) for s in SEED_SUPPLIERS],
        "objects": [asdict(o) for o in SEED_OBJECTS],
        "states": [s.as_json() for s in SEED_STATES],
        "cost_categories": [{"name": n} for n in SEED_COST_CATEGORIES],
        "problem_categories": [{"name": n} for n in SEED_PROBLEM_CATEGORIES],
    }
