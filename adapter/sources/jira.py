"""Jira Cloud and Jira Data Center admin webhooks.

- Webhooks (events, payload, retries, `X-Hub-Signature`):
  https://developer.atlassian.com/cloud/jira/platform/webhooks/
- Data Center: https://confluence.atlassian.com/adminjiraserver/managing-webhooks-938846912.html
- Issue JSON (the `issue` object is `GET /rest/api/2/issue/{id}`):
  https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issues/

A webhook registered in Jira admin with a secret signs the raw body with HMAC-SHA256 into
`X-Hub-Signature: sha256=<hex>`. Nothing time-bound is signed, so a replay window on the
payload's own `timestamp` (epoch ms) keeps old captured deliveries out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from adapter import text
from adapter.errors import ConfigError, InvalidPayload, Unauthenticated
from adapter.events import Event, Person, StateRef, SystemState, ignored
from adapter.markup import plain
from adapter.settings import Secret, SourceSettings
from adapter.sources.base import (
    Inbound,
    SourceType,
    Verified,
    decode_hex,
    hmac_sha256,
    matches_any,
)

SIGNATURE_HEADER = "x-hub-signature"
# Unique per delivery and unchanged on retries (Cloud only; Data Center sends none).
IDENTIFIER_HEADER = "x-atlassian-webhook-identifier"
# Atlassian: "sha256 today; parse the method, another may be used later".
SIGNATURE_METHODS = ("sha256",)

ISSUE_CREATED = "jira:issue_created"
ISSUE_UPDATED = "jira:issue_updated"
ISSUE_DELETED = "jira:issue_deleted"
COMMENT_CREATED = "comment_created"
HANDLED_EVENTS = (ISSUE_CREATED, ISSUE_UPDATED, ISSUE_DELETED, COMMENT_CREATED)

REPORTER_KEYS = ("accountId", "email", "name", "key")
# Jira's default priority scheme, used when the source configures no priority_map.
DEFAULT_PRIORITY_MAP = {"highest": 3, "high": 3, "medium": 2, "low": 1, "lowest": 1}
# statusCategory.key is the one status property every workflow shares.
CATEGORY_STATES: dict[str, SystemState] = {
    "new": "Active",
    "indeterminate": "Active",
    "done": "Done",
}
FUTURE_TOLERANCE = timedelta(minutes=5)
DESCRIPTION_LIMIT = 512
EXTERNAL_LINK_LIMIT = 256


class _ObjectKey(Schema):
    """Exactly one of: a field id, a component name prefix, a label prefix."""

    field = fields.String(validate=validate.Length(min=1))
    component_prefix = fields.String()
    label_prefix = fields.String()

    @validates_schema
    def _exactly_one(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        if len(data) != 1:
            raise ValidationError(
                "Give exactly one of field, component_prefix, label_prefix.", "_schema"
            )


class _Issue(Schema):
    class Meta:
        unknown = EXCLUDE

    key = fields.String()
    link = fields.String(data_key="self", allow_none=True)
    data = fields.Dict(data_key="fields", allow_none=True)


class _Changelog(Schema):
    class Meta:
        unknown = EXCLUDE

    items = fields.List(fields.Dict(), load_default=list)


class _Payload(Schema):
    """The envelope every Jira webhook shares; the issue's fields stay a plain dict because
    their set differs per site (custom fields) and per event (the slim issue of comments)."""

    class Meta:
        unknown = EXCLUDE

    webhookEvent = fields.String(required=True, validate=validate.Length(min=1))
    timestamp = fields.Integer(allow_none=True)
    issue_event_type_name = fields.String(allow_none=True)
    user = fields.Dict(allow_none=True)
    issue = fields.Nested(_Issue, allow_none=True)
    changelog = fields.Nested(_Changelog, allow_none=True)
    comment = fields.Dict(allow_none=True)


class JiraSource(SourceType):
    """Jira admin webhooks: issue created / updated / deleted and comment created."""

    type_name: ClassVar[str] = "jira"

    class Options(Schema):
        """The jira-specific keys of a source entry in the config file."""

        secrets = fields.List(
            fields.String(validate=validate.Length(min=1)),
            load_default=list,
            metadata={"description": "Webhook secrets; several during rotation."},
        )
        # Jira Cloud retries up to five times 5-15 minutes apart (about 75 minutes), and a site
        # whose deliveries kept failing falls back to one late attempt; Data Center documents
        # no retries but queues deliveries under load. A day covers all of that with room for
        # clock skew, and still refuses a capture replayed days later.
        replay_window_seconds = fields.Float(
            load_default=86400.0,
            validate=validate.Range(min=60, max=30 * 86400),
            metadata={"description": "Refuse payloads whose timestamp is older than this."},
        )
        reporter_keys = fields.List(
            fields.String(validate=validate.OneOf(REPORTER_KEYS)),
            load_default=lambda: ["accountId", "email", "name"],
            metadata={"description": "Reporter user attributes tried in the reporters table."},
        )
        object_key = fields.Nested(
            _ObjectKey,
            load_default=lambda: {"label_prefix": "object:"},
            metadata={
                "description": "Where the real estate object key is: one of field, "
                "component_prefix, label_prefix."
            },
        )
        problem_category_field = fields.String(
            load_default="issuetype.name",
            allow_none=True,
            metadata={"description": "Path under issue.fields looked up in problem_category_map."},
        )
        cost_category_field = fields.String(
            load_default=None,
            allow_none=True,
            metadata={"description": "Path under issue.fields looked up in cost_category_map."},
        )
        on_deleted = fields.String(
            load_default="ignore",
            validate=validate.OneOf(["ignore", "close"]),
            metadata={"description": "What a deleted Jira issue does to its Bloxs ticket."},
        )
        ignore_events = fields.List(
            fields.String(),
            load_default=list,
            metadata={"description": "webhookEvent names to ignore besides the unhandled ones."},
        )

        @pre_load
        def _one_secret(self, data: Any, **kwargs: Any) -> Any:
            if isinstance(data, Mapping) and isinstance(data.get("secrets"), str):
                return {**data, "secrets": [data["secrets"]]}
            return data

        @post_load
        def _hide_secrets(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
            data["secrets"] = [Secret(s) for s in data["secrets"]]
            return data

    def __init__(self, settings: SourceSettings) -> None:
        super().__init__(settings)
        # Loading is idempotent, so options the config loader already loaded pass unchanged
        # and a SourceSettings built by hand still gets the defaults.
        try:
            self.options = self.Options().load(dict(settings.options))
        except ValidationError as exc:
            raise ConfigError(
                f"Source {settings.name!r}: invalid jira options.",
                errors=_flatten(exc.messages),
            ) from exc
        self._secrets: list[str] = list(self.options["secrets"])
        if not self._secrets and not settings.insecure:
            # Checked here so that config loading reports it (config.py builds every source).
            raise ConfigError(
                f"Source {settings.name!r} has no secrets.",
                errors={
                    "secrets": [
                        "Give the Jira webhook's secret, or set insecure: true to accept "
                        "unsigned requests."
                    ]
                },
            )
        self._window = timedelta(seconds=self.options["replay_window_seconds"])
        self._priorities = _folded(settings.priority_map or DEFAULT_PRIORITY_MAP)
        self._statuses = _folded(settings.status_map)
        self._problem_categories = _folded(settings.problem_category_map)
        self._cost_categories = _folded(settings.cost_category_map)
        self._ignore_events = set(self.options["ignore_events"])

    # --- authenticity -------------------------------------------------------------------------

    def verify(self, inbound: Inbound) -> Verified:
        header = inbound.headers.get(SIGNATURE_HEADER, "").strip()
        if not self._secrets:
            if self.settings.insecure:
                self._check_fresh(_timestamp(inbound.body), inbound.received_at)
                return Verified()  # no secret to check a signature against
            raise Unauthenticated(
                "No secret is configured for this Jira source; refusing every request."
            )
        if not header:
            if self.settings.insecure:
                self._check_fresh(_timestamp(inbound.body), inbound.received_at)
                return Verified()
            raise Unauthenticated(
                "missing X-Hub-Signature header: register the Jira webhook with a secret."
            )
        method, sep, signature = header.partition("=")
        method = method.strip().lower()
        if not sep:
            raise Unauthenticated("X-Hub-Signature is not of the form <method>=<hex>.")
        if method not in SIGNATURE_METHODS:
            raise Unauthenticated(
                f"X-Hub-Signature method {method[:20]!r} is not supported; "
                f"supported: {', '.join(SIGNATURE_METHODS)}."
            )
        given = decode_hex(signature)
        expected = [hmac_sha256(secret, inbound.body) for secret in self._secrets]
        if not matches_any(expected, given):
            raise Unauthenticated("X-Hub-Signature does not match the body for any secret.")
        self._check_fresh(_timestamp(inbound.body), inbound.received_at)
        return Verified()

    # --- mapping ----------------------------------------------------------------------------

    def parse(self, inbound: Inbound) -> Event:
        payload = _load(inbound.body)
        event_name: str = payload["webhookEvent"]
        delivery_key = _delivery_key(inbound)
        issue = payload.get("issue") or {}
        key = issue.get("key")

        if event_name in self._ignore_events:
            return self._ignore(delivery_key, key, f"event {event_name} is in ignore_events")
        if event_name not in HANDLED_EVENTS:
            return self._ignore(delivery_key, key, f"event {event_name} is not handled")
        if not key:
            raise InvalidPayload(
                f"A {event_name} webhook without issue.key.",
                errors={"issue.key": ["Missing data for required field."]},
            )

        if event_name == COMMENT_CREATED:
            return self._note(payload, key, delivery_key)
        if event_name == ISSUE_DELETED:
            if self.options["on_deleted"] == "close":
                return Event(
                    kind="close",
                    source=self.name,
                    delivery_key=delivery_key,
                    external_id=key,
                    summary=f"{key} deleted in Jira",
                )
            return self._ignore(delivery_key, key, "issue deleted in Jira")
        snapshot = self._snapshot(payload, issue, key, inbound, delivery_key)
        if event_name == ISSUE_CREATED:
            title = str(_fields(issue).get("summary") or "")
            return _replace(snapshot, kind="create", summary=f"{key} created: {_short(title)}")
        return self._updated(payload, issue, key, snapshot, delivery_key)

    def _check_fresh(self, timestamp: int | None, received_at: datetime) -> None:
        # Part of verify(): Jira signs no time, so the payload's own timestamp, under the
        # signature, is what refuses a captured request replayed later. `translate` (a dry
        # run on old payload files) calls only parse().
        if timestamp is None:
            return  # the field is in every payload seen; an absent one is not a replay sign
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=UTC)
        try:
            sent = datetime.fromtimestamp(timestamp / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidPayload(
                "The timestamp is not a time.", errors={"timestamp": ["Not a valid time."]}
            ) from None
        if sent < received_at - self._window:
            raise Unauthenticated(
                f"The payload timestamp {sent.isoformat()} is too old: older than the replay "
                f"window of {self._window.total_seconds():.0f} s."
            )
        if sent > received_at + FUTURE_TOLERANCE:
            raise Unauthenticated(
                f"The payload timestamp {sent.isoformat()} is too far in the future."
            )

    def _updated(
        self,
        payload: Mapping[str, Any],
        issue: Mapping[str, Any],
        key: str,
        snapshot: Event,
        delivery_key: str,
    ) -> Event:
        changed, others = self._changes(_changelog_items(payload), snapshot)
        if changed:
            if "state" in changed and _is_done(_fields(issue)):
                return _replace(snapshot, kind="close", changed=changed, summary=f"{key} closed")
            return _replace(
                snapshot,
                kind="update",
                changed=changed,
                summary=f"{key} updated: {', '.join(changed)}",
            )
        # Jira Data Center reports a comment as an issue update (issue_commented) with the
        # comment at the top level; Cloud sends that too, next to comment_created, and the
        # comment-based delivery key makes the second one a duplicate.
        if isinstance(payload.get("comment"), Mapping):
            return self._note(payload, key, delivery_key)
        what = ", ".join(others) if others else "no changelog"
        return self._ignore(delivery_key, key, f"no mapped field changed ({what})")

    def _changes(
        self, items: Iterable[Mapping[str, Any]], snapshot: Event
    ) -> tuple[tuple[str, ...], list[str]]:
        watched = {
            "summary": "description",
            "description": "description",
            "priority": "priority",
            "status": "state",
        }
        for option, field_name in (
            ("problem_category_field", "problemCategoryName"),
            ("cost_category_field", "costCategoryName"),
        ):
            path = self.options[option]
            if path:
                watched.setdefault(path.split(".", 1)[0].lower(), field_name)
        changed: list[str] = []
        others: list[str] = []
        for item in items:
            names = [str(item.get(k) or "").lower() for k in ("fieldId", "field")]
            target = next((watched[n] for n in names if n in watched), None)
            if target is None:
                label = str(item.get("field") or item.get("fieldId") or "?")
                if label not in others:
                    others.append(label)
                continue
            # A change we cannot express (an unmapped category, a status without a mapping
            # or category) changes nothing in Bloxs.
            known = snapshot.state is not None if target == "state" else target in snapshot.fields
            if known and target not in changed:
                changed.append(target)
        return tuple(changed), others

    def _note(self, payload: Mapping[str, Any], key: str, delivery_key: str) -> Event:
        comment = payload.get("comment")
        if not isinstance(comment, Mapping):
            raise InvalidPayload(
                "A comment webhook without a comment.",
                errors={"comment": ["Missing data for required field."]},
            )
        body = plain(comment.get("body"))
        if not body:
            return self._ignore(delivery_key, key, "comment without text")
        author = _user_name(comment.get("author")) or "Someone"
        comment_id = comment.get("id")
        return Event(
            kind="note",
            source=self.name,
            # The same comment arrives as comment_created and, with the issue-updated event
            # ticked too, as jira:issue_updated: one key for both keeps it one Bloxs note.
            delivery_key=f"jira-comment:{comment_id}" if comment_id else delivery_key,
            external_id=key,
            note=f"{author} commented in Jira:\n\n{body}",
            summary=f"{key} comment",
        )

    def _snapshot(
        self,
        payload: Mapping[str, Any],
        issue: Mapping[str, Any],
        key: str,
        inbound: Inbound,
        delivery_key: str,
    ) -> Event:
        """The Bloxs view of the issue as it is now, shared by create, update and close (an
        update for a ticket Bloxs does not know yet may be turned into a create)."""
        data = _fields(issue)
        full = text.describe(
            text.tidy(str(data.get("summary") or "")), plain(data.get("description"))
        )
        full = full or f"Jira issue {key}"
        ticket: dict[str, Any] = {"description": text.shorten(full, DESCRIPTION_LIMIT)}
        link = _browse_url(issue.get("link"), key)
        if link:
            ticket["externalLink"] = link
        ticket["reportingDate"] = self._reporting_date(
            data.get("created"), payload.get("timestamp"), inbound.received_at
        )
        ticket["priority"] = self._priority(data.get("priority"))
        for option, mapping, target in (
            ("problem_category_field", self._problem_categories, "problemCategoryName"),
            ("cost_category_field", self._cost_categories, "costCategoryName"),
        ):
            path = self.options[option]
            name = _lookup(mapping, _field_at(data, path)) if path else None
            if name:
                ticket[target] = name
        return Event(
            kind="update",
            source=self.name,
            delivery_key=delivery_key,
            external_id=key,
            fields=ticket,
            state=self._state(data.get("status")),
            reporter=self._reporter(data, payload.get("user")),
            object_keys=self._object_keys(data),
            notes_after_create=(full,) if len(full) > DESCRIPTION_LIMIT else (),
        )

    def _reporting_date(self, created: Any, timestamp: int | None, received_at: datetime) -> str:
        moment = _jira_time(created, self.settings.timezone)
        if moment is None and timestamp is not None:
            moment = datetime.fromtimestamp(timestamp / 1000, tz=UTC)
        if moment is None:
            moment = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
        return moment.astimezone(self.settings.timezone).date().isoformat()

    def _priority(self, priority: Any) -> int:
        value = _lookup(self._priorities, priority)
        return value if isinstance(value, int) else self.settings.default_priority

    def _state(self, status: Any) -> StateRef | None:
        if not isinstance(status, Mapping):
            return None
        name = _lookup(self._statuses, status.get("name"))
        if name:
            return StateRef(name=str(name))
        category = status.get("statusCategory")
        if isinstance(category, Mapping):
            system = CATEGORY_STATES.get(str(category.get("key") or "").lower())
            if system:
                return StateRef(system=system)
        return None

    def _reporter(self, data: Mapping[str, Any], actor: Any) -> Person | None:
        user = next(
            (u for u in (data.get("reporter"), data.get("creator"), actor) if _is_user(u)), None
        )
        if user is None:
            return None
        attributes = {
            "accountId": user.get("accountId"),
            "email": user.get("emailAddress"),
            "name": user.get("name"),
            "key": user.get("key"),
        }
        keys: list[str] = []
        for wanted in self.options["reporter_keys"]:
            value = attributes.get(wanted)
            if isinstance(value, str) and value.strip() and value.strip() not in keys:
                keys.append(value.strip())
        email = user.get("emailAddress")
        return Person(
            keys=tuple(keys),
            name=_user_name(user),
            email=email if isinstance(email, str) and email else None,
        )

    def _object_keys(self, data: Mapping[str, Any]) -> tuple[str, ...]:
        how: Mapping[str, str] = self.options["object_key"]
        if "field" in how:
            found = _values(data.get(how["field"]))
        elif "component_prefix" in how:
            components = data.get("components")
            names = [c.get("name") for c in components or [] if isinstance(c, Mapping)]
            found = _strip_prefix(names, how["component_prefix"])
        else:
            found = _strip_prefix(data.get("labels") or [], how["label_prefix"])
        return tuple(dict.fromkeys(found))

    def _ignore(self, delivery_key: str, key: str | None, reason: str) -> Event:
        event = ignored(self.name, delivery_key, reason)
        return _replace(event, external_id=key, summary=f"{key or 'Jira'} ignored: {reason}")


# --- helpers -------------------------------------------------------------------------------


def _load(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidPayload(
            "The body is not JSON.", errors={"body": [f"Not valid JSON: {exc}"[:200]]}
        ) from None
    if not isinstance(document, dict):
        raise InvalidPayload(
            "The body is not a JSON object.", errors={"body": ["Expected a JSON object."]}
        )
    try:
        loaded: dict[str, Any] = _Payload().load(document)
    except ValidationError as exc:
        raise InvalidPayload(
            "The body is not a Jira webhook.", errors=_flatten(exc.messages)
        ) from None
    return loaded


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dict as {"issue.key": [...]}, the shape Bloxs answers with."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for name, inner in messages.items():
            flat.update(_flatten(inner, f"{prefix}.{name}" if prefix else str(name)))
        return flat
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_schema": list(messages)}
    return {prefix or "_schema": [str(messages)]}


def _delivery_key(inbound: Inbound) -> str:
    identifier = inbound.headers.get(IDENTIFIER_HEADER, "").strip()
    if identifier:
        return identifier
    return "sha256:" + hashlib.sha256(inbound.body).hexdigest()


def _replace(event: Event, **changes: Any) -> Event:
    return replace(event, **changes)


def _fields(issue: Mapping[str, Any]) -> Mapping[str, Any]:
    data = issue.get("data")
    return data if isinstance(data, Mapping) else {}


def _changelog_items(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    changelog = payload.get("changelog") or {}
    return [i for i in changelog.get("items") or [] if isinstance(i, Mapping)]


def _is_done(data: Mapping[str, Any]) -> bool:
    """The issue is finished when its status is in the "done" category; payloads from Jira
    versions before status categories fall back to "a resolution is set"."""
    status = data.get("status")
    category = status.get("statusCategory") if isinstance(status, Mapping) else None
    if isinstance(category, Mapping) and category.get("key"):
        return str(category["key"]).lower() == "done"
    return bool(data.get("resolution"))


def _folded(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).strip().casefold(): v for k, v in mapping.items()}


def _lookup(folded: Mapping[str, Any], value: Any) -> Any:
    """The mapped value for a name, an option {value} or an object {name}, or None."""
    for name in _values(value):
        found = folded.get(name.casefold())
        if found is not None:
            return found
    return None


def _values(value: Any) -> list[str]:
    """A custom field's value(s) as strings: string, number, option {value}, {name}, lists."""
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, float):
        return [str(int(value)) if value.is_integer() else str(value)]
    if isinstance(value, Mapping):
        return _values(value.get("value", value.get("name")))
    if isinstance(value, list):
        return [v for item in value for v in _values(item)]
    return []


def _field_at(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _strip_prefix(names: Iterable[Any], prefix: str) -> list[str]:
    found = []
    for name in names:
        if isinstance(name, str) and name.lower().startswith(prefix.lower()):
            rest = name[len(prefix) :].strip()
            if rest:
                found.append(rest)
    return found


def _is_user(value: Any) -> bool:
    return isinstance(value, Mapping) and any(
        value.get(k) for k in ("accountId", "emailAddress", "name", "key", "displayName")
    )


def _user_name(user: Any) -> str | None:
    if not isinstance(user, Mapping):
        return None
    name = user.get("displayName") or user.get("name")
    return text.tidy(str(name)) if name else None


def _browse_url(issue_self: Any, key: str) -> str | None:
    if not isinstance(issue_self, str) or "/rest/" not in issue_self:
        return None
    url = f"{issue_self.split('/rest/', 1)[0]}/browse/{key}"
    return url if len(url) <= EXTERNAL_LINK_LIMIT else None


def _jira_time(value: Any, timezone: Any) -> datetime | None:
    """Jira's `yyyy-MM-dd'T'HH:mm:ss.SSSZ` (offset without colon; Python 3.11 reads it);
    a time without an offset is taken to be in the source's time zone."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone)


def _short(title: str) -> str:
    return text.shorten(text.tidy(title), 80)


def _timestamp(body: bytes) -> int | None:
    """The payload's `timestamp` (epoch ms), or None when the body has none or is not JSON
    (parse() then answers 422 with the details)."""
    try:
        value = json.loads(body).get("timestamp")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
