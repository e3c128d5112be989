"""Redaction: secrets never reach a log line, whatever a caller binds.

A denylist of key names (tokens, secrets, signatures, authorization headers) whose values are
replaced, applied recursively to dicts and lists in the event.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|authorization|signature|api[_-]?key|cookie|x-hub-signature"
    r"|signing[_-]?key)",
    re.IGNORECASE,
)
# Keys that contain a denylisted word but carry no secret.
_ALLOWED = {"token_renewals", "tokens_issued"}


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret_key(k) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and key not in _ALLOWED and bool(_SECRET_KEY.search(key))


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if _is_secret_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict
