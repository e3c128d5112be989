"""How a delivery is shown to an operator (admin API and CLI): personal data redacted."""

from __future__ import annotations

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
