"""The config file: environment expansion, validation messages, secrets, the JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
import yaml

from adapter.config import (
    SCHEMA_PATH,
    check_config,
    config_json_schema,
    load_settings,
    render_config_schema,
    write_config_schema,
)
from adapter.errors import ConfigError
from adapter.lookups import LookupTables
from adapter.settings import Secret, Settings
from adapter.sources import SOURCE_TYPES
from adapter.sources.base import Inbound

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "adapter.yaml"
LOOKUPS = ROOT / "examples" / "lookups"


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["lookups"] = {
        "reporters": str(LOOKUPS / "reporters.csv"),
        "objects": str(LOOKUPS / "objects.csv"),
    }
    return data


def write_config(tmp_path: Path, data: dict[str, Any] | str) -> Path:
    path = tmp_path / "adapter.yaml"
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(
    tmp_path: Path, data: dict[str, Any] | str, environ: dict[str, str] | None = None
) -> dict[str, list[str]]:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, data), environ or {})
    assert caught.value.errors is not None
    return caught.value.errors


def a_source(data: dict[str, Any]) -> dict[str, Any]:
    """The first source of the example, to be changed by a test."""
    return next(iter(data["sources"].values()))  # type: ignore[no-any-return]


# --- the example ---------------------------------------------------------------------------


def test_example_loads_with_sandbox_defaults() -> None:
    """examples/adapter.yaml loads with an empty environment and talks to the sandbox."""
    settings = load_settings(EXAMPLE, {})
    assert isinstance(settings, Settings)
    assert settings.bloxs.base_url == "http://127.0.0.1:8089"
    assert settings.bloxs.api_key == "sandbox-api-key"
    assert settings.bloxs.api_secret == "sandbox-api-secret"
    assert settings.bloxs.token is None
    assert settings.admin.token is None
    assert settings.timezone == ZoneInfo("Europe/Amsterdam")
    assert settings.lookups.reporters == LOOKUPS / "reporters.csv"
    assert settings.lookups.objects == LOOKUPS / "objects.csv"
    assert settings.sources
    for name, source in settings.sources.items():
        assert source.name == name
        assert source.type in SOURCE_TYPES
        assert source.timezone == ZoneInfo("Europe/Amsterdam")
        assert source.max_body_bytes == SOURCE_TYPES[source.type].default_max_body_bytes


def test_example_passes_check_config() -> None:
    """check-config finds nothing wrong with the example and its lookup tables."""
    assert check_config(EXAMPLE, {}) == []


def test_example_is_valid_against_the_json_schema() -> None:
    """The generated JSON Schema accepts the example, so editors do not flag it."""
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(config_json_schema()).validate(document)


def test_json_schema_refuses_what_the_loader_refuses() -> None:
    """An unknown key and an unknown source type are flagged by the JSON Schema too."""
    validator = jsonschema.Draft202012Validator(config_json_schema())
    document = example()
    document["bloxs"]["tokn"] = "x"
    a_source(document)["type"] = "postmrk"
    messages = [error.message for error in validator.iter_errors(document)]
    assert any("'tokn' was unexpected" in m for m in messages)
    assert any("'postmrk' is not one of" in m for m in messages)


def test_schema_file_is_current() -> None:
    """schemas/config.schema.json is what config_json_schema() generates today."""
    current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
    assert current == render_config_schema(), (
        "schemas/config.schema.json is out of date; regenerate it with "
        "`bloxs-adapter schemas --write` (or python -c 'from adapter.config import "
        "write_config_schema; write_config_schema()')"
    )


def test_write_config_schema(tmp_path: Path) -> None:
    """write_config_schema writes the JSON Schema document to the given path."""
    path = write_config_schema(tmp_path / "out" / "config.schema.json")
    assert json.loads(path.read_text(encoding="utf-8")) == config_json_schema()


# --- environment expansion -----------------------------------------------------------------


def test_env_set_default_and_escape(tmp_path: Path) -> None:
    """${VAR} takes the environment, ${VAR:-x} falls back to x, $${ stays a literal ${."""
    data = example()
    data["bloxs"]["api_key"] = "${KEY}"
    data["bloxs"]["api_secret"] = "pre-${SECRET:-fallback}-$${NOT_A_VAR}"
    data["bloxs"]["timeout_seconds"] = "${TIMEOUT:-7.5}"
    settings = load_settings(write_config(tmp_path, data), {"KEY": "from-env"})
    assert settings.bloxs.api_key == "from-env"
    assert settings.bloxs.api_secret == "pre-fallback-${NOT_A_VAR}"
    assert settings.bloxs.timeout_seconds == 7.5


def test_env_value_is_not_parsed_as_yaml(tmp_path: Path) -> None:
    """An expanded value stays one string, even when it looks like YAML."""
    data = example()
    data["bloxs"]["api_key"] = "${KEY}"
    settings = load_settings(write_config(tmp_path, data), {"KEY": "a: [b, c]\nd"})
    assert settings.bloxs.api_key == "a: [b, c]\nd"


def test_env_missing_names_key_path_and_variable(tmp_path: Path) -> None:
    """An unset ${VAR} without default is an error naming the key path and the variable."""
    data = example()
    data["bloxs"]["api_secret"] = "${BLOXS_API_SECRET}"
    name = next(iter(data["sources"]))
    a_source(data)["default_state"] = "x ${STATE_X} y"
    errors = errors_of(tmp_path, data)
    assert errors["bloxs.api_secret"] == [
        "environment variable BLOXS_API_SECRET is not set and has no default"
    ]
    assert errors[f"sources.{name}.default_state"] == [
        "environment variable STATE_X is not set and has no default"
    ]


def test_env_malformed_placeholder(tmp_path: Path) -> None:
    """A ${ that is not ${NAME} or ${NAME:-default} is refused with the way to escape it."""
    data = example()
    data["bloxs"]["api_key"] = "abc${not a name}"
    assert errors_of(tmp_path, data)["bloxs.api_key"] == [
        "malformed ${...}: write ${NAME} or ${NAME:-default}, $${ for a literal ${"
    ]


def test_env_expands_inside_lists(tmp_path: Path) -> None:
    """Placeholders in list items are expanded and their key path has the index."""
    data = example()
    data["lookups"]["objects"] = "${LOOKUP_DIR}/objects.csv"
    settings = load_settings(write_config(tmp_path, data), {"LOOKUP_DIR": str(LOOKUPS)})
    assert settings.lookups.objects == LOOKUPS / "objects.csv"


# --- validation messages -------------------------------------------------------------------


def test_errors_are_collected_with_key_paths(tmp_path: Path) -> None:
    """Every problem is reported at once, keyed by its dotted key path, naming allowed values."""
    data = example()
    data["timezone"] = "Europe/Amsterdm"
    data["store"] = "mysql://localhost/x"
    data["log_format"] = "loud"
    data["bloxs"]["timeout_seconds"] = 0
    data["bloxs"]["budgets"]["update"] = 0
    data["bloxs"]["retry"]["bogus"] = 1
    data["dispatcher"]["enabled"] = "sometimes"
    data["extra"] = 1
    name = next(iter(data["sources"]))
    source = a_source(data)
    source["priority_map"] = {"High": 5, "Low": 1}
    source["default_priority"] = "urgent"
    source["missing_ticket"] = "drop"
    source["insecure"] = 1
    source["max_body_bytes"] = 0
    data["sources"]["mail"] = {"type": "postmrk"}
    data["sources"]["nameless"] = {"default_state": "Nieuw"}
    data["sources"]["bad name!"] = {"type": "jira"}
    errors = errors_of(tmp_path, data)
    allowed_types = ", ".join(sorted(SOURCE_TYPES))
    expected = {
        "timezone": [
            "unknown time zone 'Europe/Amsterdm'; use an IANA name such as Europe/Amsterdam"
        ],
        "store": ["must start with sqlite:/// or postgresql://"],
        "log_format": ["must be one of: auto, json, console"],
        "bloxs.timeout_seconds": ["must be greater than 0"],
        "bloxs.budgets.update": ["must be an integer of at least 1"],
        "bloxs.retry.bogus": [
            "unknown key; allowed: attempts, base_delay_seconds, max_delay_seconds"
        ],
        "dispatcher.enabled": ["must be true or false"],
        f"sources.{name}.priority_map.High": ["must be 1, 2 or 3"],
        f"sources.{name}.default_priority": ["must be 1, 2 or 3"],
        f"sources.{name}.missing_ticket": ["must be one of: park, create"],
        f"sources.{name}.insecure": ["must be true or false"],
        f"sources.{name}.max_body_bytes": ["must be an integer of at least 1"],
        "sources.mail.type": [f"unknown source type 'postmrk'; allowed: {allowed_types}"],
        "sources.nameless.type": [f"missing; allowed: {allowed_types}"],
        "sources.bad name!": [
            "a source name is letters, digits, '.', '-' or '_' (it is in the URL)"
        ],
    }
    for key, messages in expected.items():
        assert errors.get(key) == messages, key
    assert errors["extra"][0].startswith("unknown key; allowed: admin, bloxs, dispatcher,")


def test_unknown_source_key_lists_common_and_type_keys(tmp_path: Path) -> None:
    """An unknown key in a source names the keys its type allows, common ones included."""
    data = example()
    name = next(iter(data["sources"]))
    source = a_source(data)
    source["defualt_state"] = "Nieuw"
    message = errors_of(tmp_path, data)[f"sources.{name}.defualt_state"][0]
    assert message.startswith("unknown key; allowed: ")
    allowed = message.removeprefix("unknown key; allowed: ").split(", ")
    assert {"default_state", "priority_map", "type"} <= set(allowed)
    options = SOURCE_TYPES[source["type"]].Options().fields.items()
    assert {field.data_key or key for key, field in options} <= set(allowed)


def test_bloxs_credentials_rule(tmp_path: Path) -> None:
    """Bloxs needs a token, or an api_key and api_secret, and not both kinds."""
    data = example()
    data["bloxs"]["token"] = "tok-value-123"
    assert errors_of(tmp_path, data)["bloxs.token"] == [
        "set either token, or api_key and api_secret, not both"
    ]
    data["bloxs"].update(token="", api_key="", api_secret="s")
    assert errors_of(tmp_path, data)["bloxs"] == [
        "set token, or both api_key and api_secret (api_key is empty)"
    ]
    data["bloxs"].update(token="tok-value-123", api_key="", api_secret="")
    assert load_settings(write_config(tmp_path, data), {}).bloxs.token == "tok-value-123"


def test_value_maps_are_lower_cased(tmp_path: Path) -> None:
    """priority/status/category map keys are lower-cased; two that differ only in case clash."""
    data = example()
    name = next(iter(data["sources"]))
    source = a_source(data)
    source["priority_map"] = {"Highest": 3, " Low ": 1}
    source["status_map"] = {"To Do": "Nieuw"}
    source["problem_category_map"] = {"Bug": "Overig"}
    source["cost_category_map"] = {"Repair": "Reparatie"}
    settings = load_settings(write_config(tmp_path, data), {})
    loaded = settings.sources[name]
    assert dict(loaded.priority_map) == {"highest": 3, "low": 1}
    assert dict(loaded.status_map) == {"to do": "Nieuw"}
    assert dict(loaded.problem_category_map) == {"bug": "Overig"}
    assert dict(loaded.cost_category_map) == {"repair": "Reparatie"}
    source["status_map"] = {"Done": "Gereed", "done": "Afgemeld"}
    assert errors_of(tmp_path, data)[f"sources.{name}.status_map"] == [
        "'Done' and 'done' differ only in case"
    ]


def test_defaults_and_max_body_bytes(tmp_path: Path) -> None:
    """Omitted sections take their defaults; max_body_bytes overrides the type's default."""
    data = example()
    for key in ("dispatcher", "admin", "retention", "lookups", "timezone", "store", "log_format"):
        del data[key]
    name = next(iter(data["sources"]))
    a_source(data)["max_body_bytes"] = 2048
    a_source(data)["default_reporter"] = 100099
    settings = load_settings(write_config(tmp_path, data), {})
    assert settings.dispatcher == Settings().dispatcher
    assert settings.store_url == "sqlite:///data/bloxs-adapter.db"
    assert settings.lookups.reporters is None
    assert settings.sources[name].max_body_bytes == 2048
    assert settings.sources[name].default_reporter == "100099"


def test_relative_lookup_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    """lookups paths are resolved against the config file's folder, not the working directory."""
    data = example()
    data["lookups"] = {"reporters": "tables/reporters.csv", "objects": "tables/objects.csv"}
    (tmp_path / "tables").mkdir()
    for name in ("reporters.csv", "objects.csv"):
        (tmp_path / "tables" / name).write_bytes((LOOKUPS / name).read_bytes())
    path = write_config(tmp_path, data)
    settings = load_settings(path, {})
    assert settings.lookups.reporters == tmp_path / "tables" / "reporters.csv"
    assert check_config(path, {}) == []


def test_check_config_reports_lookup_problems(tmp_path: Path) -> None:
    """check_config returns lookup table problems, one line each, and config problems alike."""
    data = example()
    (tmp_path / "objects.csv").write_text("key,reference\nLL12,\n", encoding="utf-8")
    data["lookups"] = {"reporters": "missing.csv", "objects": "objects.csv"}
    found = check_config(write_config(tmp_path, data), {})
    assert found[0].startswith(f"lookups.reporters: {tmp_path / 'missing.csv'}: cannot be read")
    assert found[1] == "lookups.objects: objects.csv line 2: empty reference for key 'LL12'"
    data["log_format"] = "xml"
    assert check_config(write_config(tmp_path, data), {}) == [
        "log_format: must be one of: auto, json, console"
    ]


def test_check_config_flags_no_sources(tmp_path: Path) -> None:
    """A config without sources is reported: it would accept no webhook."""
    data = example()
    data["sources"] = {}
    assert check_config(write_config(tmp_path, data), {}) == [
        "sources: no source is configured, so no webhook would be accepted"
    ]


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("bloxs: [unclosed\n", "is not valid YAML: "),
        ("- a\n- b\n", "must hold a mapping of keys at the top level"),
        ("bloxs: {}\nbloxs: {}\n", "is not valid YAML: key 'bloxs' appears twice (lines 1 and 2)"),
    ],
)
def test_unreadable_files(tmp_path: Path, text: str, start: str) -> None:
    """Invalid YAML, a non-mapping and a repeated key are refused with the file and position."""
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, text), {})
    assert start in caught.value.detail
    assert str(tmp_path / "adapter.yaml") in caught.value.detail


def test_missing_file(tmp_path: Path) -> None:
    """A config file that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml", {})


# --- secrets -------------------------------------------------------------------------------

SECRET = "s3cr3t-value-never-shown"


def test_secrets_are_wrapped_and_hidden_from_repr(tmp_path: Path) -> None:
    """Tokens, API secrets and source secrets load as Secret; no repr shows them."""
    data = example()
    data["bloxs"]["api_secret"] = SECRET
    data["admin"]["token"] = SECRET
    data["store"] = f"postgresql://user:{SECRET}@127.0.0.1:5432/db"
    for source in data["sources"].values():
        for key in ("secrets", "tokens"):
            if key in source:
                source[key] = [SECRET]
    settings = load_settings(write_config(tmp_path, data), {})
    assert isinstance(settings.bloxs.api_secret, Secret)
    assert isinstance(settings.admin.token, Secret)
    assert settings.store_url == data["store"]
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.sources)


def test_secrets_never_in_error_messages(tmp_path: Path) -> None:
    """Neither a validation error nor a YAML syntax error quotes a secret value."""
    data = example()
    data["bloxs"]["token"] = SECRET
    data["bloxs"]["api_secret"] = ["not", SECRET]
    for source in data["sources"].values():
        for key in ("secrets", "tokens"):
            if key in source:
                source[key] = [SECRET, 5]
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, data), {"X": SECRET})
    assert SECRET not in str(caught.value)
    assert SECRET not in json.dumps(caught.value.errors)
    broken = f"bloxs:\n  token: {SECRET}\n  api_key: [oops\n"
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, broken), {})
    assert SECRET not in str(caught.value)
    assert "line " in caught.value.detail


# --- the example against the real source types ---------------------------------------------

FIXTURES = ROOT.parent / "shared" / "fixtures" / "composed"


@pytest.mark.skipif(not FIXTURES.exists(), reason="the shared fixtures are not checked out")
def test_example_resolves_the_composed_jira_issue() -> None:
    """The example's jira source and tables turn the composed Jira issue into seeded references."""
    settings = load_settings(EXAMPLE, {})
    source = SOURCE_TYPES["jira"](settings.sources["jira"])
    body = (FIXTURES / "jira_issue_created.json").read_bytes()
    event = source.parse(
        Inbound(
            headers={"content-type": "application/json"},
            body=body,
            received_at=datetime.fromtimestamp(1741940467.512 + 5, UTC),
        )
    )
    tables = LookupTables(settings.lookups)
    assert [tables.object(key) for key in event.object_keys] == ["300003"]
    assert event.reporter is not None
    reporter = tables.reporter(event.reporter.keys[0])
    assert reporter is not None
    assert (reporter.reference, reporter.contact_person_reference) == ("100004", "100005")


def test_type_checks_of_the_source_class_are_reported(tmp_path: Path) -> None:
    """A check made by the source type itself (no credentials, not insecure) names the source."""
    data = example()
    data["sources"]["postmark"].pop("tokens")
    errors = errors_of(tmp_path, data)
    assert list(errors) == ["sources.postmark"]
    data["sources"]["postmark"]["insecure"] = True
    assert load_settings(write_config(tmp_path, data), {}).sources["postmark"].insecure is True
