"""One exception tree; every node knows the HTTP status it is answered with.

`AdapterError` subclasses raised while handling a webhook are rendered by one handler in
app.py as RFC 9457 application/problem+json. Their messages are written for the person who
configured the sender: specific, and never containing a secret or a token.
"""

from __future__ import annotations

from typing import Any


class AdapterError(Exception):
    status = 500
    title = "Internal error"
    type_slug = "internal"

    def __init__(self, detail: str, *, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://bloxs-adapter.invalid/problems/{self.type_slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        return body


class UnknownSource(AdapterError):
    status = 404
    title = "Unknown source"
    type_slug = "unknown-source"


class Unauthenticated(AdapterError):
    """Signature or token missing, wrong or too old."""

    status = 401
    title = "Not authenticated"
    type_slug = "unauthenticated"


class InvalidPayload(AdapterError):
    """The body is not parseable, or not the shape this source sends."""

    status = 422
    title = "Payload not understood"
    type_slug = "invalid-payload"


class PayloadTooLarge(AdapterError):
    status = 413
    title = "Payload too large"
    type_slug = "payload-too-large"


class NotFound(AdapterError):
    """An admin API path names a delivery, source or link that does not exist."""

    status = 404
    title = "Not found"
    type_slug = "not-found"


class Conflict(AdapterError):
    """An admin action not possible in the delivery's state (replay a done one, ...)."""

    status = 409
    title = "Not possible in this state"
    type_slug = "conflict"


class BadQuery(AdapterError):
    """An admin query parameter that cannot be read."""

    status = 400
    title = "Bad query"
    type_slug = "bad-query"


class LookupsInvalid(AdapterError):
    """A lookup table reload asked through the admin API failed; the old tables stay."""

    status = 422
    title = "Lookup tables invalid"
    type_slug = "invalid-lookups"


class StoreUnavailable(AdapterError):
    status = 503
    title = "Store unavailable"
    type_slug = "store-unavailable"


class ConfigError(AdapterError):
    """The config file or a lookup table is invalid; `errors` maps key paths to messages."""

    status = 500
    title = "Invalid configuration"
    type_slug = "invalid-config"


class Park(Exception):
    """Authentic, but a person must fix something (a lookup table, a value map) first."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
