"""JSON Schema documents generated from the code, published in `schemas/`.

The Bloxs contract's Marshmallow schemas are rendered with apispec's marshmallow plugin for
OpenAPI 3.1, whose schema objects are JSON Schema draft 2020-12 (nullable fields come out as
`"type": ["string", "null"]`). Each document is a plain function returning a dict, listed in
`DOCUMENTS` under its file name; adding a document is adding one entry there.

Regenerate with `bloxs-adapter schemas --write` (or `python -m adapter.schemagen`);
tests/test_schemagen.py fails while a file in `schemas/` is stale.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from adapter.bloxs import contract

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"


def json_schema(schema: type[Schema], *, title: str, description: str) -> dict[str, Any]:
    """A standalone JSON Schema document for one flat Marshmallow schema."""
    plugin = MarshmallowPlugin()
    APISpec(title="bloxs-adapter", version="1", openapi_version="3.1.0", plugins=[plugin])
    # The plugin's methods carry no annotations; Any keeps mypy --strict quiet about them.
    untyped: Any = plugin
    # apispec would find these through the class hierarchy too; naming them keeps the output
    # fixed even if a strict field's base class changes.
    untyped.map_to_openapi_type(contract.StrictBoolean, fields.Boolean)
    untyped.map_to_openapi_type(contract.StrictNumber, fields.Float)
    untyped.map_to_openapi_type(contract.StrictDate, fields.Date)
    untyped.map_to_openapi_type(contract.StrictAwareDateTime, fields.DateTime)
    if plugin.converter is None:  # set by APISpec(plugins=...); None only before that
        raise RuntimeError("apispec did not initialise the marshmallow plugin")
    body: dict[str, Any] = untyped.converter.schema2jsonschema(schema)
    return {"$schema": JSON_SCHEMA_DIALECT, "title": title, "description": description, **body}


def _one_identifier(doc: dict[str, Any]) -> dict[str, Any]:
    # contract._one_identifier: reference or externalIdentifier must have a (non-empty) value.
    doc["anyOf"] = [
        {"required": [name], "properties": {name: {"type": "string", "minLength": 1}}}
        for name in ("reference", "externalIdentifier")
    ]
    return doc


def create_service_ticket() -> dict[str, Any]:
    return json_schema(
        contract.CreateServiceTicket,
        title="Bloxs: create a service ticket",
        description="Request body of POST /api/v1/maintenance/servicetickets.",
    )


def service_ticket() -> dict[str, Any]:
    return json_schema(
        contract.ServiceTicket,
        title="Bloxs: service ticket",
        description="A service ticket as Bloxs returns it from create, get, update and done; "
        "fields Bloxs adds later are tolerated.",
    )


def update_service_ticket() -> dict[str, Any]:
    return _one_identifier(
        json_schema(
            contract.UpdateServiceTicket,
            title="Bloxs: update a service ticket",
            description="Request body of PUT /api/v1/maintenance/servicetickets (a full "
            "overwrite); reference or externalIdentifier names the ticket.",
        )
    )


def done() -> dict[str, Any]:
    return _one_identifier(
        json_schema(
            contract.DoneServiceTicket,
            title="Bloxs: set a service ticket to Done",
            description="Request body of POST /api/v1/maintenance/servicetickets/done.",
        )
    )


def note() -> dict[str, Any]:
    return _one_identifier(
        json_schema(
            contract.ServiceTicketNote,
            title="Bloxs: add a note to a service ticket",
            description="Request body of POST /api/v1/maintenance/servicetickets/notes.",
        )
    )


def config_schema() -> dict[str, Any]:
    from adapter.config import config_json_schema

    return config_json_schema()


def openapi() -> dict[str, Any]:
    # Imported here: the OpenAPI document pulls in the whole app.
    from adapter.openapi import openapi_document

    return openapi_document()


DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "bloxs-create-service-ticket.schema.json": create_service_ticket,
    "bloxs-service-ticket.schema.json": service_ticket,
    "bloxs-update-service-ticket.schema.json": update_service_ticket,
    "bloxs-done.schema.json": done,
    "bloxs-note.schema.json": note,
    "config.schema.json": config_schema,
    "openapi.json": openapi,
}


def render(doc: dict[str, Any]) -> str:
    """Stable text for a document, so regenerating an unchanged one changes no byte."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_all(directory: Path) -> list[Path]:
    """Write every document into `directory` (created if missing); the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, generate in DOCUMENTS.items():
        path = directory / name
        path.write_text(render(generate()), encoding="utf-8")
        written.append(path)
    return written


def stale(directory: Path) -> list[str]:
    """Names of the documents whose file in `directory` is missing or differs."""
    out = []
    for name, generate in DOCUMENTS.items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != render(generate()):
            out.append(name)
    return out


if __name__ == "__main__":
    for written_path in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMAS_DIR):
        print(written_path)
