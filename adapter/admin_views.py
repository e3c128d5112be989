"""How a delivery is shown to an operator (admin API and CLI): personal data redacted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapter.store import Attempt, Delivery

# Fields of a Bloxs request that hold a person's name, address, phone or free text.
PERSONAL_FIELDS = frozenset(
    {
        "reporterExternalContactPersonName",
        "reporterExternalContactPersonEmail",
        "reporterExternalContactPersonPhoneNumber",
        "reporterExternalContactPersonMobileNumber",
        "description",
        "message",
    }
)


def redact_request(request: Any) -> Any:
    if isinstance(request, dict):
        return {
            k: ("[personal data]" if k in PERSONAL_FIELDS and v else redact_request(v))
            for k, v in request.items()
        }
    if isinstance(request, list):
        return [redact_request(v) for v in request]
    return request


def delivery_view(delivery: Delivery, attempts: list[Attempt]) -> dict[str, Any]:
    view = delivery.public()
    view["attempts"] = [
        {
            "number": a.number,
            "startedAt": a.started_at,
            "finishedAt": a.finished_at,
            "outcome": a.outcome,
            "error": a.error,
            "requests": redact_request(a.requests) if a.requests else [],
        }
        for a in attempts
    ]
    return view


def parse_time(text: str | None) -> float | None:
    """An operator's time filter as epoch seconds: epoch seconds, or an ISO 8601 date or
    date-time (UTC when it has no offset). ValueError names the forms accepted."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use 2026-03-01, 2026-03-01T12:00, or epoch seconds)"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
