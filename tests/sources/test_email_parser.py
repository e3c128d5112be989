"""E-mail parser services: configured JSON paths to an Event, token auth, bad config."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapter.errors import ConfigError, InvalidPayload, Unauthenticated
from adapter.settings import SourceSettings
from adapter.sources.base import Inbound
from adapter.sources.email_parser import EmailParserSource

PATHS = {
    "from": "sender.address",
    "from_name": "sender.name",
    "subject": "subject",
    "body": "body_text",
    "date": "received",
    "message_id": "headers.message_id",
    "in_reply_to": "headers.in_reply_to",
    "object_code": "rows.0.code",
}
DOCUMENT = {
    "DocumentID": "doc-4711",
    "sender": {"address": "M.Smit@Example-Tenant.nl", "name": "Marieke Smit"},
    "subject": "Lift defect",
    "body_text": "De lift staat stil.\nBel 06-12345678.\n\nOp 13 mrt. 2025 schreef Beheer:\n> ok",
    "received": "2025-03-14T23:30:00Z",
    "headers": {"message_id": "<abc@Parser.Example>", "in_reply_to": None},
    "rows": [{"code": "KS5A"}],
}


def make_source(**options: Any) -> EmailParserSource:
    merged = {"tokens": ["parser-token"], "fields": PATHS, "id_field": "DocumentID", **options}
    settings = SourceSettings(
        name="parser", type="email-parser", timezone=ZoneInfo("Europe/Amsterdam"), options=merged
    )
    return EmailParserSource(settings)


def post(document: Any, **headers: str) -> Inbound:
    body = json.dumps(document).encode()
    return Inbound(
        headers={"content-type": "application/json", **headers},
        body=body,
        received_at=datetime(2025, 3, 15, tzinfo=UTC),
    )


def test_maps_configured_paths() -> None:
    """Paths (with list index) give sender, subject, body, date, object code and ids."""
    event = make_source().parse(post(DOCUMENT))
    assert event.delivery_key == "doc-4711"
    assert event.external_id == "abc@parser.example"
    assert event.fields == {
        "description": "Lift defect\n\nDe lift staat stil.\nBel 06-12345678.",
        "reportingDate": "2025-03-15",
        "priority": 2,
    }
    assert event.object_keys == ("KS5A",)
    assert event.reporter is not None
    assert event.reporter.keys == ("m.smit@example-tenant.nl",)
    assert event.reporter.name == "Marieke Smit"
    assert event.reporter.phone == "06-12345678"


def test_body_hash_without_id_field() -> None:
    """Without id_field the delivery key is a hash of the body."""
    event = make_source(id_field=None).parse(post(DOCUMENT))
    assert event.delivery_key.startswith("sha256:")


def test_token_header() -> None:
    """The token header passes; a wrong or missing one is refused."""
    make_source().verify(post(DOCUMENT, **{"x-webhook-token": "parser-token"}))
    for request in (post(DOCUMENT, **{"x-webhook-token": "x"}), post(DOCUMENT)):
        with pytest.raises(Unauthenticated):
            make_source().verify(request)


def test_required_paths_in_config() -> None:
    """from, subject and body paths are required; unknown field names are refused."""
    with pytest.raises(ConfigError):
        make_source(fields={"from": "a", "subject": "b"})
    with pytest.raises(ConfigError):
        make_source(fields={**PATHS, "colour": "c"})


def test_options_load_twice_unchanged() -> None:
    """Loading loaded options changes nothing (config.py may load them first)."""
    once = make_source().options
    assert EmailParserSource.Options().load(dict(once)) == once


@pytest.mark.parametrize(
    "document", [b"not json", "a string", {"subject": "x", "body_text": "y"}, {"sender": {}}]
)
def test_not_the_configured_shape(document: Any) -> None:
    """Not JSON, not an object, or no sender at the from path: InvalidPayload."""
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    request = Inbound(headers={}, body=body, received_at=datetime(2025, 3, 15, tzinfo=UTC))
    with pytest.raises(InvalidPayload):
        make_source().parse(request)
