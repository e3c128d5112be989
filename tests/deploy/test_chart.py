"""The Helm chart without a helm binary: its values against values.schema.json, the adapter
config it carries against the adapter's own loader, and every template reference."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from adapter.config import check_config

CHART = Path(__file__).resolve().parents[2] / "helm" / "bloxs-adapter"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return loaded


def test_default_values_fit_the_values_schema() -> None:
    """values.yaml validates against values.schema.json (what `helm lint` checks)."""
    jsonschema.validate(values(), schema())


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (["replicaCount"], "two"),
        (["replicaCount"], 0),
        (["image", "pullPolicy"], "Sometimes"),
        (["service", "port"], 70000),
        (["lookups", "objects.csv"], 12),
        (["unknownKey"], True),
    ],
)
def test_bad_values_are_refused(path: list[str], bad: Any) -> None:
    """Typos and wrong types in values are refused by the schema."""
    data = values()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = bad
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema())


def test_chart_config_is_a_valid_adapter_config(tmp_path: Path) -> None:
    """The config and lookup tables the chart renders pass the adapter's own check-config
    (with the Secret's variables set) and its JSON Schema."""
    data = values()
    jsonschema.validate(data["config"], json.loads((SCHEMAS / "config.schema.json").read_text()))
    (tmp_path / "lookups").mkdir()
    for name, content in data["lookups"].items():
        (tmp_path / "lookups" / name).write_text(content)
    path = tmp_path / "adapter.yaml"
    path.write_text(yaml.safe_dump(data["config"]))
    environ = {
        "DATABASE_URL": "postgresql://adapter@db:5432/adapter",
        "BLOXS_API_KEY": "k",
        "BLOXS_API_SECRET": "s",
        "JIRA_WEBHOOK_SECRET": "j",
    }
    assert check_config(path, environ) == []


def test_templates_only_use_values_that_exist() -> None:
    """Every .Values.x.y a template reads is defined in values.yaml, and every template's
    {{ }} and if/range/end blocks are balanced."""
    data = values()
    for template in (CHART / "templates").rglob("*"):
        if template.suffix not in (".yaml", ".tpl"):
            continue
        text = template.read_text()
        assert text.count("{{") == text.count("}}"), template.name
        opened = len(re.findall(r"{{-?\s*(?:if|range|define|with)\b", text))
        closed = len(re.findall(r"{{-?\s*end\b", text))
        assert opened == closed, template.name
        for ref in re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
            node: Any = data
            for key in ref.strip(".").split("."):
                assert isinstance(node, dict), f"{template.name}: .Values{ref}"
                assert key in node, f"{template.name}: .Values{ref} is not in values.yaml"
                node = node[key]


def test_pods_run_as_the_image_user_with_probes() -> None:
    """The pod spec matches the Dockerfile (uid 10001, non-root) and probes /healthz and
    /readyz on the port the image serves."""
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    dockerfile = (CHART.parents[1] / "Dockerfile").read_text()
    assert "runAsUser: 10001" in helpers
    assert "--uid 10001" in dockerfile
    assert "path: /healthz" in helpers
    assert "path: /readyz" in helpers
    assert "EXPOSE 8080" in dockerfile
    assert "containerPort: 8080" in helpers
