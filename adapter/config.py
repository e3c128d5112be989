"""The config file and the environment -> a validated `Settings` object.

One YAML file. `${VAR}` and `${VAR:-default}` inside string values are replaced from the
environ mapping passed in (never `os.environ` directly: tests and the CLI inject it), `$${`
is a literal `${`. Every key is checked by a Marshmallow schema that refuses unknown keys;
all problems are collected and raised together as one ConfigError whose `errors` map
dotted key paths (`sources.jira.priority_map.High`) to messages. Messages never contain a
secret: values of secret-bearing keys are wrapped in `Secret` as soon as they are read.

`config_json_schema()` renders the same schemas as JSON Schema for editors
(`schemas/config.schema.json`, written by `bloxs-adapter schemas --write`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from marshmallow import Schema, ValidationError, fields, missing, validate, validates_schema

from adapter.errors import ConfigError
from adapter.lookups import LookupTables
from adapter.settings import (
    PERSONAL_FIELDS,
    AdminSettings,
    BloxsSettings,
    DispatcherSettings,
    LoggingSettings,
    LookupSettings,
    RateBudgets,
    RetentionSettings,
    RetryPolicy,
    Secret,
    Settings,
    SourceSettings,
)
from adapter.sources import SOURCE_TYPES

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.json"
STORE_PREFIXES = ("sqlite:///", "postgresql://")
# Keys whose values are credentials, in the common part and in every type's Options: their
# string values become `Secret` so no repr, log line or error message can show them.
SECRET_KEYS = frozenset(
    {
        "token",
        "tokens",
        "api_key",
        "api_secret",
        "secret",
        "secrets",
        "password",
        "passwords",
        "signing_key",
        "signing_keys",
        "verification_key",
        "public_key",
    }
)
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PLACEHOLDER = re.compile(
    r"\$\$\{|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|\$\{"
)


# --- fields --------------------------------------------------------------------------------


def _doc(text: str, **extra: Any) -> dict[str, Any]:
    return {"description": text, **extra}


class SecretString(fields.String):
    """A credential: an empty value (an unset `${VAR:-}`) counts as not configured."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        return Secret(text) if text else None


class Reference(fields.String):
    """A Bloxs reference. YAML reads an unquoted 100099 as a number; accept it as text."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBool(fields.Boolean):
    """Only true/false: `insecure: 1` is refused rather than guessed. The strings "true" and
    "false" are accepted because `${VAR}` expansion always yields text."""

    default_error_messages = {"invalid": "must be true or false"}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise self.make_error("invalid")


def _int(low: int, high: int | None = None, **kwargs: Any) -> fields.Integer:
    return fields.Integer(
        validate=validate.Range(min=low, max=high, error=_range_text(low, high)), **kwargs
    )


def _float(low: float, *, strict_low: bool = False, **kwargs: Any) -> fields.Float:
    text = f"must be greater than {low:g}" if strict_low else f"must be at least {low:g}"
    return fields.Float(
        validate=validate.Range(min=low, min_inclusive=not strict_low, error=text), **kwargs
    )


def _range_text(low: int, high: int | None) -> str:
    if high is None:
        return f"must be an integer of at least {low}"
    return f"must be an integer from {low} to {high}"


def _one_of(choices: list[str], **kwargs: Any) -> fields.String:
    text = "must be one of: " + ", ".join(choices)
    return fields.String(validate=validate.OneOf(choices, error=text), **kwargs)


def _priority(**kwargs: Any) -> fields.Integer:
    return fields.Integer(
        validate=validate.OneOf([1, 2, 3], error="must be 1, 2 or 3"),
        error_messages={"invalid": "must be 1, 2 or 3"},
        **kwargs,
    )


# --- schemas -------------------------------------------------------------------------------


class StrictSchema(Schema):
    """Refuses unknown keys (marshmallow's default) and says which keys are allowed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error_messages = {**self.error_messages, "unknown": _unknown_text(self)}


def _unknown_text(schema: Schema) -> str:
    return "unknown key; allowed: " + ", ".join(sorted(_keys(schema)))


def _keys(schema: Schema) -> dict[str, fields.Field[Any]]:
    """The schema's fields by the key written in the file (a field's data_key, if any)."""
    return {field.data_key or name: field for name, field in schema.fields.items()}


class BudgetsSchema(StrictSchema):
    update = _int(1, dump_default=80, metadata=_doc("Insert/update calls per window (Bloxs: 100)."))
    filter = _int(1, dump_default=80, metadata=_doc("Filter calls per window (Bloxs: 100)."))
    get = _int(1, dump_default=400, metadata=_doc("Other GET calls per window (Bloxs: 500)."))
    authorization = _int(
        1, dump_default=8, metadata=_doc("Calls to /Authorization per window (Bloxs: 10).")
    )
    window_seconds = _float(
        0, strict_low=True, dump_default=60.0, metadata=_doc("Length of the budget window.")
    )
    margin_seconds = _float(
        0, dump_default=1.0, metadata=_doc("Extra wait between windows for clock/transit skew.")
    )
    shared = _one_of(
        ["auto", "always", "never"],
        dump_default="auto",
        metadata=_doc("Keep the budget in the store, shared by all replicas (auto: PostgreSQL)."),
    )


class RetrySchema(StrictSchema):
    attempts = _int(1, dump_default=5, metadata=_doc("Tries per Bloxs call before giving up."))
    base_delay_seconds = _float(0, dump_default=0.5, metadata=_doc("First retry delay."))
    max_delay_seconds = _float(0, dump_default=20.0, metadata=_doc("Longest retry delay."))


class BloxsSchema(StrictSchema):
    base_url = fields.String(
        dump_default="http://127.0.0.1:8089",
        validate=validate.Regexp(r"^https?://\S+$", error="must be an http:// or https:// URL"),
        metadata=_doc("Base URL of the Bloxs API (the sandbox: http://127.0.0.1:8089)."),
    )
    token = SecretString(
        allow_none=True, metadata=_doc("A ready bearer token; else set api_key and api_secret.")
    )
    api_key = SecretString(allow_none=True, metadata=_doc("API key, exchanged for a token."))
    api_secret = SecretString(allow_none=True, metadata=_doc("API secret that goes with api_key."))
    timeout_seconds = _float(0, strict_low=True, dump_default=15.0, metadata=_doc("Read timeout."))
    connect_timeout_seconds = _float(
        0, strict_low=True, dump_default=5.0, metadata=_doc("Connect timeout.")
    )
    max_connections = _int(1, dump_default=10, metadata=_doc("HTTP connection pool size."))
    renew_before_seconds = _float(
        0, dump_default=300.0, metadata=_doc("Renew a token this long before it expires.")
    )
    budgets = fields.Nested(BudgetsSchema, metadata=_doc("The adapter's own rate budget."))
    retry = fields.Nested(RetrySchema, metadata=_doc("Retries of failed Bloxs calls."))
    problem_categories_path = fields.String(
        dump_default="/api/v1/maintenance/servicetickets/problemcategories",
        validate=validate.Regexp(r"^/", error="must start with /"),
        metadata=_doc("Path of the problem category list (not documented by Bloxs)."),
    )
    catalog_refresh_seconds = _float(
        0,
        strict_low=True,
        dump_default=600.0,
        metadata=_doc("How often state/category lists refresh."),
    )

    @validates_schema(skip_on_field_errors=False)
    def _one_credential(self, data: dict[str, Any], **kwargs: Any) -> None:
        token = data.get("token")
        key, secret = data.get("api_key"), data.get("api_secret")
        if token and (key or secret):
            raise ValidationError("set either token, or api_key and api_secret, not both", "token")
        if not token and not (key and secret):
            missing = "api_secret" if key else "api_key"
            raise ValidationError(f"set token, or both api_key and api_secret ({missing} is empty)")


class LookupsSchema(StrictSchema):
    reporters = fields.String(
        allow_none=True, metadata=_doc("Reporters table, CSV or YAML; relative to the config file.")
    )
    objects = fields.String(
        allow_none=True, metadata=_doc("Objects table, CSV or YAML; relative to the config file.")
    )


class DispatcherSchema(StrictSchema):
    enabled = StrictBool(dump_default=True, metadata=_doc("Run the dispatcher in this process."))
    concurrency = _int(1, dump_default=4, metadata=_doc("Deliveries sent at the same time."))
    poll_interval_seconds = _float(
        0, strict_low=True, dump_default=0.5, metadata=_doc("Wait between polls when idle.")
    )
    lease_seconds = _float(
        0, strict_low=True, dump_default=120.0, metadata=_doc("A claim expires after this.")
    )
    max_attempts = _int(1, dump_default=12, metadata=_doc("Attempts before a delivery is parked."))
    backoff_base_seconds = _float(0, dump_default=2.0, metadata=_doc("First retry delay."))
    backoff_max_seconds = _float(0, dump_default=900.0, metadata=_doc("Longest retry delay."))


class AdminSchema(StrictSchema):
    token = SecretString(
        allow_none=True, metadata=_doc("Bearer token for /admin; empty disables the admin API.")
    )


class RetentionSchema(StrictSchema):
    done_days = _float(
        0,
        dump_default=14.0,
        metadata=_doc("Days after which the payload of a done or cancelled delivery is emptied."),
    )
    keep_days = _float(
        0,
        dump_default=90.0,
        metadata=_doc("Days after which a done or cancelled delivery's row is deleted."),
    )
    interval_seconds = _float(
        0, strict_low=True, dump_default=3600.0, metadata=_doc("How often the clean-up runs.")
    )

    @validates_schema(skip_on_field_errors=True)
    def _keep_after_done(self, data: dict[str, Any], **kwargs: Any) -> None:
        done = data.get("done_days", RetentionSettings.done_days)
        keep = data.get("keep_days", RetentionSettings.keep_days)
        if keep < done:
            raise ValidationError(f"must be at least done_days ({done:g})", "keep_days")


class LoggingSchema(StrictSchema):
    redact_personal = StrictBool(
        dump_default=True,
        metadata=_doc("Replace personal data (e-mail, phone, names) in log lines at info level."),
    )
    personal_fields = fields.List(
        fields.String(validate=validate.Length(min=1, error="must not be empty")),
        dump_default=list(PERSONAL_FIELDS),
        metadata=_doc(
            "Log keys holding personal data: a key matches when, lower-cased and without"
            " '_', '-' and '.', it contains one of these."
        ),
    )


def _map(values: fields.Field[Any], text: str) -> fields.Dict:
    return fields.Dict(keys=fields.String(), values=values, metadata=_doc(text))


class CommonSourceSchema(StrictSchema):
    """The keys every source has; the rest of the entry goes to the type's Options."""

    type = fields.String(required=True, metadata=_doc("The source type."))
    insecure = StrictBool(
        dump_default=False,
        metadata=_doc("true only when the sender is on purpose not authenticated."),
    )
    max_body_bytes = _int(
        1, metadata=_doc("Largest accepted body; default: the type's own (1 MiB or more).")
    )
    default_reporter = Reference(
        allow_none=True, metadata=_doc("Bloxs relation used when the reporter is not in the table.")
    )
    default_state = fields.String(
        allow_none=True, metadata=_doc("Bloxs state name used when the event carries none.")
    )
    default_priority = _priority(dump_default=2, metadata=_doc("Priority (1-3) when none maps."))
    priority_map = _map(_priority(), "Source priority -> Bloxs priority 1, 2 or 3.")
    status_map = _map(fields.String(), "Source status -> Bloxs state name.")
    problem_category_map = _map(fields.String(), "Source value -> Bloxs problem category name.")
    cost_category_map = _map(fields.String(), "Source value -> Bloxs cost category name.")
    missing_ticket = _one_of(
        ["park", "create"],
        dump_default="park",
        metadata=_doc("An update/close/note for an external id never created: park or create."),
    )


class ConfigSchema(StrictSchema):
    timezone = fields.String(
        dump_default="Europe/Amsterdam",
        validate=lambda name: _check_zone(name),
        metadata=_doc("IANA time zone of reporting dates."),
    )
    store = fields.String(
        dump_default="sqlite:///data/bloxs-adapter.db",
        validate=validate.Regexp(
            r"^(sqlite:///|postgresql://)", error="must start with sqlite:/// or postgresql://"
        ),
        metadata=_doc("sqlite:///path (relative to the working directory) or postgresql://..."),
    )
    log_format = _one_of(
        ["auto", "json", "console"], dump_default="auto", metadata=_doc("auto: console on a TTY.")
    )
    bloxs = fields.Nested(BloxsSchema, required=True, metadata=_doc("The Bloxs connection."))
    lookups = fields.Nested(LookupsSchema, metadata=_doc("Lookup table files."))
    dispatcher = fields.Nested(DispatcherSchema, metadata=_doc("The background sender."))
    admin = fields.Nested(AdminSchema, metadata=_doc("The admin API."))
    retention = fields.Nested(RetentionSchema, metadata=_doc("Clean-up of done deliveries."))
    logging = fields.Nested(LoggingSchema, metadata=_doc("Redaction of log lines."))
    # Checked entry by entry in _load_sources: each entry's schema depends on its type.
    sources = fields.Dict(
        keys=fields.String(), values=fields.Raw(), metadata=_doc("Source name -> source entry.")
    )


def _check_zone(name: str) -> None:
    if _zone(name) is None:
        raise ValidationError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Amsterdam"
        )


# --- loading -------------------------------------------------------------------------------


def load_settings(path: Path, environ: Mapping[str, str]) -> Settings:
    """Read, expand and validate the config file; ConfigError lists every problem found."""
    path = Path(path)
    raw = _read_yaml(path)
    errors: dict[str, list[str]] = {}
    data = _expand(raw, environ, "", errors)
    try:
        loaded = ConfigSchema().load(data)
    except ValidationError as exc:
        _flatten(exc.messages, ConfigSchema(), "", errors)
        loaded = None
    sources: dict[str, SourceSettings] = {}
    zone = _zone(data.get("timezone", "Europe/Amsterdam")) or ZoneInfo("Europe/Amsterdam")
    if isinstance(data.get("sources"), Mapping):
        sources = _load_sources(data["sources"], zone, errors)
    if errors or loaded is None:
        raise _config_error(path, errors)
    return _build(loaded, sources, zone, path.absolute().parent)


def check_config(path: Path, environ: Mapping[str, str]) -> list[str]:
    """Every problem with the config file and its lookup tables, one line each; [] when fine."""
    try:
        settings = load_settings(path, environ)
    except ConfigError as exc:
        return problems(exc)
    found: list[str] = []
    if not settings.sources:
        found.append("sources: no source is configured, so no webhook would be accepted")
    try:
        LookupTables(settings.lookups)
    except ConfigError as exc:
        found.extend(problems(exc))
    return found


def problems(error: ConfigError) -> list[str]:
    """A ConfigError as `key.path: message` lines."""
    if not error.errors:
        return [error.detail]
    return [f"{key}: {message}" for key, messages in error.errors.items() for message in messages]


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} cannot be read: {type(exc).__name__}.") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        # Only the problem and its position: PyYAML's own message quotes the offending line,
        # which may hold a secret.
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(
            f"Config file {path} is not valid YAML: {exc.problem} at {where}."
        ) from None
    except yaml.YAMLError:
        raise ConfigError(f"Config file {path} is not valid YAML.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of keys at the top level.")
    return data


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; a config mistake hides that way."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} appears twice (lines {seen[key]} and {line})",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _expand(value: Any, environ: Mapping[str, str], path: str, errors: dict[str, list[str]]) -> Any:
    """`${VAR}`/`${VAR:-default}` in every string value; keys are left as written."""
    if isinstance(value, dict):
        return {k: _expand(v, environ, _join(path, k), errors) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, environ, _join(path, i), errors) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "$${":
            return "${"
        name, default = match.group("name"), match.group("default")
        if name is None or (default is not None and "${" in default):
            _add(
                errors,
                path,
                "malformed ${...}: write ${NAME} or ${NAME:-default}, $${ for a literal ${",
            )
            return ""
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        _add(errors, path, f"environment variable {name} is not set and has no default")
        return ""

    return _PLACEHOLDER.sub(replace, value)


def _load_sources(
    entries: Mapping[Any, Any], zone: ZoneInfo, errors: dict[str, list[str]]
) -> dict[str, SourceSettings]:
    sources: dict[str, SourceSettings] = {}
    allowed = ", ".join(sorted(SOURCE_TYPES))
    for name, entry in entries.items():
        where = _join("sources", name)
        if not isinstance(name, str) or not _SOURCE_NAME.match(name):
            _add(
                errors,
                where,
                "a source name is letters, digits, '.', '-' or '_' (it is in the URL)",
            )
            continue
        if not isinstance(entry, Mapping):
            _add(errors, where, "must be a mapping of keys")
            continue
        type_name = entry.get("type")
        if type_name not in SOURCE_TYPES:
            problem = "missing" if type_name is None else f"unknown source type {type_name!r}"
            _add(errors, f"{where}.type", f"{problem}; allowed: {allowed}")
            continue
        source = _load_source(name, SOURCE_TYPES[type_name], dict(entry), zone, where, errors)
        if source is not None:
            sources[name] = source
    return sources


def _load_source(
    name: str,
    source_type: Any,
    entry: dict[str, Any],
    zone: ZoneInfo,
    where: str,
    errors: dict[str, list[str]],
) -> SourceSettings | None:
    common_schema = CommonSourceSchema()
    options_schema: Schema = source_type.Options()
    common_keys = set(_keys(common_schema))
    allowed = sorted(common_keys | set(_keys(options_schema)))
    options_schema.error_messages = {
        **options_schema.error_messages,
        "unknown": "unknown key; allowed: " + ", ".join(allowed),
    }
    common_schema.error_messages = options_schema.error_messages
    failed = False
    common: dict[str, Any] = {}
    options: dict[str, Any] = {}
    try:
        common = common_schema.load({k: v for k, v in entry.items() if k in common_keys})
    except ValidationError as exc:
        _flatten(exc.messages, common_schema, where, errors)
        failed = True
    try:
        options = options_schema.load({k: v for k, v in entry.items() if k not in common_keys})
    except ValidationError as exc:
        _flatten(exc.messages, options_schema, where, errors)
        failed = True
    for key in ("priority_map", "status_map", "problem_category_map", "cost_category_map"):
        if key in common:
            common[key] = _lower_keys(common[key], f"{where}.{key}", errors)
    if failed or any(k.startswith(f"{where}.") for k in errors):
        return None
    del common["type"]
    settings = SourceSettings(
        name=name,
        type=source_type.type_name,
        timezone=zone,
        max_body_bytes=common.pop("max_body_bytes", source_type.default_max_body_bytes),
        options=_hide_secrets(options),
        **common,
    )
    # A type checks what its Options schema cannot see alone (e.g. insecure false with no
    # secret) in its constructor; building it here puts that check into load_settings too.
    try:
        source_type(settings)
    except ConfigError as exc:
        for key, messages in (exc.errors or {where: [exc.detail]}).items():
            full = key if key == where or key.startswith(f"{where}.") else _join(where, key)
            full = full.rstrip(".")
            for message in messages:
                _add(errors, full, message)
        return None
    return settings


def _lower_keys(
    mapping: Mapping[str, Any], where: str, errors: dict[str, list[str]]
) -> dict[str, Any]:
    lowered: dict[str, Any] = {}
    written: dict[str, str] = {}
    for key, value in mapping.items():
        low = key.strip().lower()
        if low in written and lowered[low] != value:
            _add(errors, where, f"{written[low]!r} and {key!r} differ only in case")
        lowered[low] = value
        written.setdefault(low, key)
    return lowered


def _hide_secrets(value: Any, secret: bool = False) -> Any:
    if isinstance(value, Mapping):
        return {k: _hide_secrets(v, secret or k in SECRET_KEYS) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_hide_secrets(v, secret) for v in value)
    if secret and isinstance(value, str) and not isinstance(value, Secret):
        return Secret(value)
    return value


def _build(
    data: dict[str, Any], sources: dict[str, SourceSettings], zone: ZoneInfo, base: Path
) -> Settings:
    bloxs = dict(data.get("bloxs", {}))
    bloxs["budgets"] = RateBudgets(**bloxs.get("budgets", {}))
    bloxs["retry"] = RetryPolicy(**bloxs.get("retry", {}))
    lookups = {
        key: (base / value if value else None) for key, value in data.get("lookups", {}).items()
    }
    store = data.get("store", Settings.store_url)
    # A password in a postgresql:// URL must not show in a repr of the settings.
    store_url = Secret(store) if urlsplit(store).password else store
    return Settings(
        store_url=store_url,
        timezone=zone,
        bloxs=BloxsSettings(**bloxs),
        lookups=LookupSettings(**lookups),
        dispatcher=DispatcherSettings(**data.get("dispatcher", {})),
        admin=AdminSettings(**data.get("admin", {})),
        retention=RetentionSettings(**data.get("retention", {})),
        logging=_logging(data.get("logging", {})),
        sources=sources,
        log_format=data.get("log_format", "auto"),
    )


def _logging(data: dict[str, Any]) -> LoggingSettings:
    fields_ = data.get("personal_fields")
    return LoggingSettings(
        redact_personal=data.get("redact_personal", True),
        personal_fields=tuple(fields_) if fields_ is not None else PERSONAL_FIELDS,
    )


def _zone(name: Any) -> ZoneInfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _flatten(messages: Any, node: Any, path: str, errors: dict[str, list[str]]) -> None:
    """Marshmallow's nested error dict -> dotted key paths, walking the schema alongside so
    that Dict and List levels become plain path parts."""
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                _flatten(message, node, path, errors)
            else:
                _add(errors, path or "(top level)", str(message))
        return
    if isinstance(messages, str):
        _add(errors, path or "(top level)", messages)
        return
    for key, sub in messages.items():
        if isinstance(node, Schema):
            field = _keys(node).get(key) if isinstance(key, str) else None
            if field is None and key == "_schema":
                _flatten(sub, node, path, errors)
                continue
            if field is None and sub == ["Unknown field."]:
                sub = [_unknown_text(node)]
            child: Any = field.schema if isinstance(field, fields.Nested) else field
            _flatten(sub, child, _join(path, key), errors)
        elif isinstance(node, fields.Dict) and isinstance(sub, dict):
            for part, part_messages in sub.items():
                if part == "key":
                    _flatten(part_messages, None, _join(path, key), errors)
                else:
                    _flatten(part_messages, _inner(node.value_field), _join(path, key), errors)
        elif isinstance(node, fields.List):
            _flatten(sub, _inner(node.inner), _join(path, key), errors)
        else:
            _flatten(sub, None, _join(path, key), errors)


def _inner(field: Any) -> Any:
    return field.schema if isinstance(field, fields.Nested) else field


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _add(errors: dict[str, list[str]], key: str, message: str) -> None:
    errors.setdefault(key, []).append(message)


def _config_error(path: Path, errors: dict[str, list[str]]) -> ConfigError:
    count = sum(len(messages) for messages in errors.values())
    lines = [f"{key}: {message}" for key, messages in errors.items() for message in messages]
    noun = "problem" if count == 1 else "problems"
    detail = f"Config file {path}: {count} {noun}:\n  " + "\n  ".join(lines)
    return ConfigError(detail, errors=errors)


# --- JSON Schema ---------------------------------------------------------------------------

# `${VAR}` may stand for a number or a boolean too: editors must not flag it.
_PLACEHOLDER_STRING = {"type": "string", "pattern": r"\$\{"}


def config_json_schema() -> dict[str, Any]:
    """The config file as JSON Schema (draft 2020-12), from the same schemas that load it."""
    root = _schema_json(ConfigSchema())
    root["required"] = ["bloxs"]
    root["properties"]["sources"] = {
        "description": "Source name (its URL is POST /webhooks/{name}) -> source entry.",
        "type": "object",
        "propertyNames": {"pattern": _SOURCE_NAME.pattern},
        "additionalProperties": {"$ref": "#/$defs/source"},
    }
    common = _schema_json(CommonSourceSchema())
    branches = []
    for type_name, source_type in SOURCE_TYPES.items():
        options = _schema_json(source_type.Options())
        properties = {**common["properties"], **options["properties"]}
        properties["type"] = {"const": type_name}
        properties["max_body_bytes"] = {
            **properties["max_body_bytes"],
            "default": source_type.default_max_body_bytes,
        }
        branches.append(
            {
                "if": {"properties": {"type": {"const": type_name}}},
                "then": {
                    "properties": properties,
                    "required": sorted({"type", *options.get("required", [])}),
                    "additionalProperties": False,
                },
            }
        )
    source = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": list(SOURCE_TYPES), "description": "The source type."}},
        "allOf": branches,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://bloxs-adapter.invalid/schemas/config.schema.json",
        "title": "bloxs-adapter config file",
        **root,
        "$defs": {"source": source},
    }


def write_config_schema(path: Path = SCHEMA_PATH) -> Path:
    """Write `config_json_schema()` to `path` (as committed in schemas/)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_config_schema(), encoding="utf-8")
    return path


def render_config_schema() -> str:
    # The same rendering as every file in schemas/ (adapter/schemagen.render).
    return json.dumps(config_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _schema_json(schema: Schema) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for key, field in _keys(schema).items():
        properties[key] = _field_json(field)
        if field.required:
            required.append(key)
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    return out


def _field_json(field: fields.Field[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    description = field.metadata.get("description")
    if description:
        out["description"] = description
    if isinstance(field, fields.Nested):
        nested = field.schema
        body = _schema_json(nested)
        if field.many:
            body = {"type": "array", "items": body}
        return {**out, **body}
    if isinstance(field, fields.Boolean):
        body = {"type": "boolean"}
    elif isinstance(field, fields.Integer):
        body = {"type": "integer"}
    elif isinstance(field, fields.Number):
        body = {"type": "number"}
    elif isinstance(field, fields.String):
        body = {"type": "string"}
        if isinstance(field, Reference):
            body = {"type": ["string", "integer"]}
    elif isinstance(field, fields.List):
        body = {"type": "array", "items": _field_json(field.inner)}
    elif isinstance(field, fields.Dict):
        body = {"type": "object"}
        if field.value_field is not None:
            body["additionalProperties"] = _field_json(field.value_field)
    else:
        body = {}
    for validator in _validators(field):
        if isinstance(validator, validate.OneOf):
            body["enum"] = list(validator.choices)
        elif isinstance(validator, validate.Range):
            if validator.min is not None:
                body["minimum" if validator.min_inclusive else "exclusiveMinimum"] = validator.min
            if validator.max is not None:
                body["maximum" if validator.max_inclusive else "exclusiveMaximum"] = validator.max
        elif isinstance(validator, validate.Regexp):
            body["pattern"] = validator.regex.pattern
    if body.get("type") in ("integer", "number", "boolean") or {"enum", "pattern"} & set(body):
        body = {"anyOf": [body, _PLACEHOLDER_STRING]}
    if field.allow_none and body.get("type") not in ("object", "array"):
        body = {"anyOf": [*body.get("anyOf", [body]), {"type": "null"}]}
    out.update(body)
    default = field.load_default if field.load_default is not missing else field.dump_default
    if callable(default):
        default = default()
    if default is not None and default is not missing and _is_json(default):
        out["default"] = default
    return out


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _validators(field: fields.Field[Any]) -> list[Any]:
    return list(getattr(field, "validators", []))
