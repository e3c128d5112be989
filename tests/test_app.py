"""The intake's answers (DESIGN's table), over real HTTP: and nothing stored on rejection."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.harness import Harness, dumps, fixture_bytes, jira_signature, running

CREATED = "composed/jira_issue_created.json"


@pytest.fixture
def harness(tmp_path: Path) -> Any:
    def config(c: dict[str, Any]) -> None:
        jira = c["sources"]["jira"]
        jira["secrets"] = ["new-secret-2026", "jira-example-secret-not-real"]
        jira["replay_window_seconds"] = 3600
        jira["max_body_bytes"] = 64 * 1024

    with running(tmp_path, configure=config) as h:
        yield h


def fresh_body(**changes: Any) -> bytes:
    payload = json.loads(fixture_bytes(CREATED))
    payload["timestamp"] = int(time.time() * 1000)
    payload.update(changes)
    return dumps(payload)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


def test_signed_with_current_secret_is_accepted(harness: Harness) -> None:
    """A body signed with the first configured secret is 202."""
    body = fresh_body()
    response = harness.post(
        "jira",
        body,
        {
            "content-type": "application/json",
            "x-hub-signature": jira_signature(body, "new-secret-2026"),
        },
    )
    assert response.status_code == 202


def test_signed_with_previous_secret_is_accepted_during_rotation(harness: Harness) -> None:
    """The second secret (the one being rotated out) still verifies."""
    assert harness.post_jira(fresh_body()).status_code == 202


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing"),
        ({"x-hub-signature": "sha256=" + "0" * 64}, "wrong"),
        ({"x-hub-signature": "sha1=abcdef"}, "method"),
        ({"x-hub-signature": "sha256=zz"}, "not hex"),
    ],
)
def test_bad_signatures_are_401_and_store_nothing(
    harness: Harness, headers: dict[str, str], why: str
) -> None:
    """Missing, wrong, unsupported or malformed signatures: 401 problem+json, nothing stored,
    and the secret never appears in the answer."""
    response = harness.post("jira", fresh_body(), {"content-type": "application/json", **headers})
    body = assert_problem(response, 401)
    assert "secret" not in json.dumps(body).lower() or "new-secret-2026" not in json.dumps(body)
    assert "jira-example-secret-not-real" not in response.text
    assert harness.adapter_store().list() == []


def test_signature_over_other_bytes_is_refused(harness: Harness) -> None:
    """The signature covers the raw bytes: the same JSON re-serialised does not verify."""
    body = fresh_body()
    reformatted = json.dumps(json.loads(body), indent=2).encode()
    response = harness.post(
        "jira",
        reformatted,
        {"content-type": "application/json", "x-hub-signature": jira_signature(body)},
    )
    assert_problem(response, 401)


def test_replayed_old_payload_is_refused(harness: Harness) -> None:
    """A correctly signed payload older than the replay window is 401."""
    body = fresh_body(timestamp=int((time.time() - 7200) * 1000))
    assert_problem(harness.post_jira(body, stamp=False), 401)
    assert harness.adapter_store().list() == []


def test_body_that_is_not_json_is_422(harness: Harness) -> None:
    """An authentic body that is not Jira's shape: 422 with field errors, nothing stored."""
    body = b"this is not json"
    assert_problem(harness.post_jira(body), 422)
    body = dumps({"timestamp": int(time.time() * 1000), "issue": {}})
    problem = assert_problem(harness.post_jira(body), 422)
    assert problem.get("errors")
    assert harness.adapter_store().list() == []


def test_oversized_body_is_413(harness: Harness) -> None:
    """Over the source's max_body_bytes: 413 before the signature is even looked at."""
    body = fresh_body(padding="x" * 70_000)
    assert_problem(harness.post_jira(body), 413)
    assert harness.adapter_store().list() == []


def test_unknown_source_is_404(harness: Harness) -> None:
    """A URL for a source that is not configured is 404 problem+json."""
    assert_problem(harness.post("nope", b"{}"), 404)


def test_ignored_event_is_202_with_reason_and_not_stored(harness: Harness) -> None:
    """An event type we do not act on: 202 {ignored: reason}, nothing stored."""
    body = fresh_body(webhookEvent="worklog_created")
    response = harness.post_jira(body)
    assert response.status_code == 202
    assert "worklog_created" in response.json()["ignored"]
    assert harness.adapter_store().list() == []


def test_request_id_is_echoed_or_made(harness: Harness) -> None:
    """X-Request-ID is echoed back; without one the adapter makes one."""
    given = harness.http.get(f"{harness.adapter.url}/healthz", headers={"x-request-id": "abc-1"})
    assert given.headers["x-request-id"] == "abc-1"
    made = harness.http.get(f"{harness.adapter.url}/healthz")
    assert len(made.headers["x-request-id"]) == 32


def test_health_and_readiness(harness: Harness) -> None:
    """/healthz says alive; /readyz checks the store and the lookup tables."""
    assert harness.http.get(f"{harness.adapter.url}/healthz").json() == {"status": "ok"}
    assert harness.http.get(f"{harness.adapter.url}/readyz").status_code == 200


def test_store_unreachable_is_503_and_not_ready(tmp_path: Path) -> None:
    """With the store gone, a webhook is answered 503 (the sender retries) and /readyz
    fails; /healthz still says the process is alive."""

    def config(c: dict[str, Any]) -> None:
        c["store"] = f"sqlite:///{tmp_path / 'db' / 'store.db'}"
        c["dispatcher"]["enabled"] = False

    with running(tmp_path, configure=config) as h:
        shutil.rmtree(tmp_path / "db")
        (tmp_path / "db").write_text("not a directory")
        response = h.post_jira(fresh_body())
        problem = assert_problem(response, 503)
        assert response.headers["retry-after"]
        assert "retry" in problem["detail"]
        assert h.http.get(f"{h.adapter.url}/readyz").status_code == 503
        assert h.http.get(f"{h.adapter.url}/healthz").status_code == 200
