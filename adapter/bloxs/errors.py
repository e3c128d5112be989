"""What can go wrong talking to Bloxs: the client's one exception tree.

    BloxsError                  operation, status, trace_id, transient, outcome_unknown
    ├── BloxsValidationError    400: Bloxs's field errors in `errors`
    ├── BloxsNotFound           404
    ├── BloxsForbidden          403
    ├── BloxsAuthError          401 after one renewal, a refused token, a failed token exchange
    ├── BloxsUnavailable        unreachable, timing out, 5xx or 429 after every retry (transient)
    └── BloxsProtocolError      a response that does not fit the contract

No httpx exception leaves client.py; each is translated into one of these, `from` the original.
Messages are sentences for the person reading a parked delivery, and never hold the token,
the API key or the API secret.
"""

from __future__ import annotations


class BloxsError(Exception):
    """`transient`: trying the same request later may succeed. `outcome_unknown`: the request
    may have been carried out although no answer arrived (a create then needs a look-up by
    externalIdentifier before it is sent again)."""

    transient = False

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        status: int | None = None,
        trace_id: str | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.status = status
        self.trace_id = trace_id
        self.outcome_unknown = outcome_unknown

    def __str__(self) -> str:
        if self.trace_id:
            return f"{self.message} (Bloxs traceId {self.trace_id})"
        return self.message


class BloxsValidationError(BloxsError):
    """Bloxs refused the request content (400); `errors` is its {field: [messages]} map."""

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        errors: dict[str, list[str]] | None = None,
        status: int | None = 400,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message, operation=operation, status=status, trace_id=trace_id)
        self.errors: dict[str, list[str]] = errors or {}


class BloxsNotFound(BloxsError):
    """404: the record (or, for an undocumented endpoint, the path) does not exist."""


class BloxsForbidden(BloxsError):
    """403: the API user lacks the role for this action in Bloxs."""


class BloxsAuthError(BloxsError):
    """The credentials are wrong, missing or no longer accepted."""


class BloxsUnavailable(BloxsError):
    """Bloxs could not be reached or kept failing; the request may be tried again later."""

    transient = True


class BloxsProtocolError(BloxsError):
    """Bloxs answered with something the contract does not describe."""
