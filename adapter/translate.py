"""`bloxs-adapter translate`: a payload file in, the Bloxs request(s) it would become out.

The dry run an integration engineer uses while writing a mapping: the source's parse() and
the lookups run for real, nothing is stored and nothing is sent to Bloxs (only, unless
--offline, Bloxs's state and category lists are read, to check the names).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapter.app import build_sources
from adapter.bloxs.client import BloxsClient
from adapter.catalog import CatalogCache
from adapter.errors import AdapterError, Park
from adapter.lookups import LookupTables
from adapter.resolve import Catalog, build_create
from adapter.settings import Settings
from adapter.sources.base import Inbound


def _content_type(path: Path, body: bytes) -> str:
    text = body[:200]
    if path.suffix == ".json" or text.lstrip()[:1] in (b"{", b"["):
        return "application/json"
    if text.startswith(b"--"):
        boundary = text.split(b"\n", 1)[0][2:].strip().decode("ascii", "replace")
        return f"multipart/form-data; boundary={boundary}"
    return "application/x-www-form-urlencoded"


async def translate(
    settings: Settings,
    source_name: str,
    payload: Path,
    body: bytes,
    *,
    headers: dict[str, str],
    content_type: str | None = None,
    offline: bool = False,
) -> tuple[int, dict[str, Any]]:
    sources = build_sources(settings)
    if source_name not in sources:
        return 2, {"error": f"no source named '{source_name}'", "sources": sorted(sources)}
    source = sources[source_name]
    headers = {"content-type": content_type or _content_type(payload, body), **headers}
    inbound = Inbound(headers=headers, body=body, received_at=datetime.now(UTC))
    try:
        event = source.parse(inbound)
    except AdapterError as exc:
        return 1, {"outcome": "rejected", "status": source.invalid_status, **exc.problem()}
    out: dict[str, Any] = {"event": event.kind, "externalIdentifier": event.external_id}
    if event.kind == "ignore":
        return 0, {**out, "outcome": "ignored", "reason": event.ignore_reason}
    lookups = LookupTables(settings.lookups)
    if offline:
        catalog = Catalog(states=None)
    else:
        async with BloxsClient(settings.bloxs) as client:
            catalog = await CatalogCache(client, 0).get()
    try:
        if event.kind == "create":
            out["requests"] = [
                {
                    "operation": "create",
                    "body": build_create(event, lookups, catalog, source.settings),
                }
            ]
            out["requests"] += [
                {"operation": "note", "message": note} for note in event.notes_after_create
            ]
        elif event.kind == "update":
            out["requests"] = [
                {
                    "operation": "update",
                    "changes": event.changed,
                    "fields": event.fields,
                    "state": asdict(event.state) if event.state else None,
                }
            ]
        elif event.kind == "close":
            out["requests"] = [{"operation": "close"}]
        else:
            out["requests"] = [{"operation": "note", "message": event.note}]
    except Park as exc:
        return 1, {**out, "outcome": "parked", "reason": exc.reason}
    return 0, {**out, "outcome": "ok"}
