"""`bloxs-adapter deliveries list|show|replay|cancel` as subprocesses on a store file, with no
server running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapter.config import load_settings
from adapter.events import Event
from adapter.store import Store
from tests.support.harness import REPO, base_config, write_config

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adapter", "deliveries", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=60,
    )


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Store, dict[str, str]]:
    """A config file, its store with a done, a parked and a pending delivery; the ids."""
    path = write_config(
        tmp_path, base_config(f"sqlite:///{tmp_path / 'store.db'}", "http://127.0.0.1:9")
    )
    store = Store(load_settings(path, os.environ).store_url)
    store.migrate()
    ids = {}
    for n, (name, parked) in enumerate([("done", None), ("parked", "object X unknown")]):
        event = Event(kind="create", source="jira", delivery_key=name, external_id=f"FAC-{n}")
        ids[name] = store.accept(
            event, body_sha256="a", now=T0 + n, parked_reason=parked
        ).delivery_id
    d = store.claim("w", T0 + 5, 30)
    assert d is not None
    store.finish(
        d.id,
        "w",
        status="done",
        now=T0 + 6,
        started_at=T0 + 5,
        attempt_number=1,
        outcome="created",
        reference="ST9",
        requests=[{"operation": "create", "body": {"description": "Lek", "stateName": "Nieuw"}}],
    )
    mail = Event(kind="note", source="mailbox", delivery_key="m1", external_id="FAC-0")
    ids["pending"] = store.accept(mail, body_sha256="a", now=T0 + 86400).delivery_id
    return path, store, ids


def listed(config: Path, *args: str) -> list[dict[str, Any]]:
    result = cli(config, "list", "--json", *args)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_list_table_json_and_filters(setup: tuple[Path, Store, dict[str, str]]) -> None:
    """A table by default; --json, --status, --source, --external-id, --since/--until filter."""
    config, _, ids = setup
    table = cli(config, "list")
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["DELIVERY", "RECEIVED"]
    assert ids["parked"] in table.stdout
    assert "object X unknown" in table.stdout
    assert [d["deliveryId"] for d in listed(config)] == [ids["pending"], ids["parked"], ids["done"]]
    assert [d["deliveryId"] for d in listed(config, "--status", "parked")] == [ids["parked"]]
    assert [d["deliveryId"] for d in listed(config, "--source", "mailbox")] == [ids["pending"]]
    assert [d["deliveryId"] for d in listed(config, "--external-id", "FAC-1")] == [ids["parked"]]
    assert [d["deliveryId"] for d in listed(config, "--since", "2026-01-02")] == [ids["pending"]]
    assert [d["deliveryId"] for d in listed(config, "--until", str(T0 + 1))] == [ids["done"]]
    bad = cli(config, "list", "--since", "yesterday")
    assert bad.returncode == 1
    assert "not a time" in bad.stderr


def test_show_prints_attempts_with_personal_data_redacted(
    setup: tuple[Path, Store, dict[str, str]],
) -> None:
    """show: the delivery, its attempts and requests with the description redacted."""
    config, _, ids = setup
    result = cli(config, "show", ids["done"])
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["status"] == "done"
    assert shown["bloxsReference"] == "ST9"
    body = shown["attempts"][0]["requests"][0]["body"]
    assert body == {"description": "[personal data]", "stateName": "Nieuw"}
    missing = cli(config, "show", "dlv_nope")
    assert missing.returncode == 1
    assert "no delivery" in missing.stderr


def test_replay_and_cancel_change_the_store(setup: tuple[Path, Store, dict[str, str]]) -> None:
    """replay queues a parked one, --parked --source all of a source; cancel gives up one;
    what cannot be done exits 1 and says why."""
    config, store, ids = setup
    result = cli(config, "replay", ids["parked"])
    assert result.returncode == 0, result.stderr
    parked = store.get(ids["parked"])
    assert parked is not None
    assert parked.status == "pending"
    assert cli(config, "replay", ids["done"]).returncode == 1
    assert cli(config, "cancel", ids["parked"]).returncode == 0
    cancelled = store.get(ids["parked"])
    assert cancelled is not None
    assert cancelled.status == "cancelled"
    again = cli(config, "cancel", ids["parked"])
    assert again.returncode == 1
    assert "already done" in again.stderr
    store.accept(
        Event(kind="create", source="jira", delivery_key="p2", external_id="FAC-7"),
        body_sha256="a",
        now=T0,
        parked_reason="why",
    )
    bulk = cli(config, "replay", "--parked", "--source", "mailbox")
    assert bulk.stdout.strip() == "0 parked deliveries queued again"
    bulk = cli(config, "replay", "--parked", "--source", "jira")
    assert bulk.stdout.strip() == "1 parked deliveries queued again"
    assert cli(config, "replay").returncode == 2
