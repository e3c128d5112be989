"""Redaction: secrets never reach a log line, whatever a caller binds; personal data does not
either at info level and above.

Two processors. `redact_processor` always runs: a denylist of key names (tokens, secrets,
signatures, authorization headers) whose values are replaced, applied recursively to dicts and
lists in the event. `PersonalDataRedactor` (config `logging.redact_personal`, on by default)
replaces the values of configured personal keys (e-mail, phone, names) and e-mail addresses and
phone numbers inside any text, in every line but debug ones: debug is switched on by a person
tracing one mapping problem, who then needs to see what was sent (sentry's `send_default_pii`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from typing import Any

REDACTED = "[redacted]"
PERSONAL = "[personal]"
_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|authorization|signature|api[_-]?key|cookie|x-hub-signature"
    r"|signing[_-]?key)",
    re.IGNORECASE,
)
# Keys that contain a denylisted word but carry no secret.
_ALLOWED = {"token_renewals", "tokens_issued"}
# Keys the adapter itself logs that a personal field name could match by accident ("logger"
# holds a module name) and that never carry a person's data.
_NEVER_PERSONAL = {"event", "level", "logger", "timestamp", "source", "source_type"}
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# International (+31 6 1234 5678, 0031...) and Dutch national (06-12345678, 020 123 4567)
# numbers; bare digit runs without a leading + or 0 (ids, references, epoch times) are left.
_PHONE = re.compile(
    r"(?<![\w.])(?:\+|00)[1-9](?:[ ()-]?\d){7,13}(?![\w.])|(?<![\w.])0\d(?:[ -]?\d){8}(?![\w.])"
)


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


def _normal(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "").replace(".", "")


def scrub_text(text: str) -> str:
    """`text` with e-mail addresses and phone numbers replaced."""
    return _PHONE.sub(PERSONAL, _EMAIL.sub(PERSONAL, text))


class PersonalDataRedactor:
    """A structlog processor: personal keys' values and e-mail addresses / phone numbers in
    text become "[personal]", in every line above debug level."""

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields = tuple(_normal(f) for f in fields if f)

    def is_personal(self, key: Any) -> bool:
        if not isinstance(key, str) or key in _NEVER_PERSONAL:
            return False
        normal = _normal(key)
        return any(f in normal for f in self.fields)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return scrub_text(value)
        if isinstance(value, dict):
            return {
                k: (PERSONAL if v and self.is_personal(k) else self.scrub(v))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        return value

    def __call__(
        self, _logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if method == "debug":
            return event_dict
        for key in list(event_dict):
            if key in _NEVER_PERSONAL and key != "event":
                continue
            value = event_dict[key]
            if value and self.is_personal(key):
                event_dict[key] = PERSONAL
            else:
                event_dict[key] = self.scrub(value)
        return event_dict


def processors(redact_personal: bool, personal_fields: Iterable[str]) -> list[Any]:
    """The redaction steps of the logging pipeline, in order."""
    steps: list[Any] = [redact_processor]
    if redact_personal:
        steps.append(PersonalDataRedactor(personal_fields))
    return steps
