"""Log lines: the canonical webhook and Bloxs-call lines, the request id from intake to Bloxs,
JSON and console rendering of our and uvicorn's records, and redaction."""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from structlog.testing import capture_logs

from adapter.app import create_app
from adapter.bloxs.sandbox import create_sandbox_app
from adapter.config import load_settings
from adapter.errors import ConfigError
from adapter.logging import configure_logging
from adapter.settings import LoggingSettings
from tests.support.harness import (
    base_config,
    fixture_bytes,
    jira_signature,
    restamp,
    running,
    write_config,
)
from tests.support.server import ServerThread

CREATED = "composed/jira_issue_created.json"


class RecordingTransport(httpx.AsyncBaseTransport):
    """The real HTTP transport to the sandbox, noting each request's X-Request-ID."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.seen: list[tuple[str, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.url.path, request.headers.get("x-request-id")))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Give structlog's and the root logger's configuration back after the test."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.configure(**config)
        root.handlers[:] = handlers
        root.setLevel(level)


def test_canonical_lines_and_request_id_reach_bloxs(tmp_path: Path) -> None:
    """One webhook line with source, event, outcome, status, ids, duration and request id;
    one bloxs.call line per call, carrying the same request id, which Bloxs receives too."""
    transport = RecordingTransport()
    with ServerThread(create_sandbox_app()) as sandbox:
        path = write_config(tmp_path, base_config(f"sqlite:///{tmp_path / 's.db'}", sandbox.url))
        settings = load_settings(path, os.environ)
        with (
            ServerThread(create_app(settings, bloxs_transport=transport)) as adapter,
            capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs,
        ):
            body = restamp(fixture_bytes(CREATED))
            headers = {
                "content-type": "application/json",
                "x-hub-signature": jira_signature(body),
                "x-request-id": "req-from-jira-1",
            }
            response = httpx.post(f"{adapter.url}/webhooks/jira", content=body, headers=headers)
            assert response.headers["x-request-id"] == "req-from-jira-1"
            delivery_id = response.json()["deliveryId"]
            runtime: Any = adapter.config.app.state.runtime  # type: ignore[attr-defined]
            for _ in range(200):
                if runtime.store.get(delivery_id).status == "done":
                    break
                time.sleep(0.02)
    [webhook] = [line for line in logs if line["event"] == "webhook"]
    assert webhook == {
        **webhook,
        "source": "jira",
        "event_kind": "create",
        "outcome": "accepted",
        "status": 202,
        "delivery_id": delivery_id,
        "external_id": "FAC-217",
        "request_id": "req-from-jira-1",
        "log_level": "info",
    }
    assert webhook["duration_ms"] >= 0
    calls = [line for line in logs if line["event"] == "bloxs.call"]
    assert {c["operation"] for c in calls} >= {"authorize", "create"}
    for call in calls:
        assert call["request_id"] == "req-from-jira-1"
        assert call["delivery_id"] == delivery_id
        assert {"status", "attempt", "duration_ms", "trace_id"} <= set(call)
    assert transport.seen
    assert {rid for _, rid in transport.seen} == {"req-from-jira-1"}


def test_rejected_webhook_line(tmp_path: Path) -> None:
    """A refused webhook still makes one line: outcome rejected, the status and the reason."""
    with running(tmp_path) as h, capture_logs() as logs:
        h.post("jira", restamp(fixture_bytes(CREATED)))
    [line] = [x for x in logs if x["event"] == "webhook"]
    assert (line["outcome"], line["status"]) == ("rejected", 401)
    assert line["reason"]
    assert len(line["request_id"]) == 32


def render(fmt: str, settings: LoggingSettings | None = None) -> tuple[Any, io.StringIO]:
    stream = io.StringIO()
    configure_logging(fmt, "debug", settings, stream=stream, cache=False)
    return structlog.get_logger("test"), stream


def test_json_lines_for_ours_and_uvicorns(restore_logging: None) -> None:
    """JSON format: our lines and uvicorn's stdlib records are each one JSON object."""
    log, stream = render("json")
    log.info("webhook", source="jira", status=202)
    logging.getLogger("uvicorn.error").info("Uvicorn running on %s", "http://127.0.0.1:8080")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["event"], first["source"], first["level"]) == ("webhook", "jira", "info")
    assert "timestamp" in first
    assert second["event"] == "Uvicorn running on http://127.0.0.1:8080"
    assert second["logger"] == "uvicorn.error"


def test_console_format(restore_logging: None) -> None:
    """Console format: a readable line, not JSON."""
    log, stream = render("console")
    log.info("webhook", source="jira")
    text = stream.getvalue()
    assert "webhook" in text
    assert "source" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_secrets_and_personal_data_are_redacted_at_info(restore_logging: None) -> None:
    """Secret keys always; personal keys and e-mail/phone text at info and above, kept in
    debug lines; uvicorn's records pass the same redaction."""
    log, stream = render("json")
    fields = {
        "authorization": "Bearer abc.def",
        "headers": {"x-hub-signature": "sha256=0123", "cookie": "s=1"},
        "api_key": "k-1",
        "reporter_email": "tenant@example.com",
        "person": {"name": "Sanne de Vries", "phone": "+31 6 1234 5678"},
        "reason": "reporter tenant@example.com (06-12345678) is not in the table",
        "reference": "100099",
    }
    log.info("redact me", **fields)
    log.debug("debug keeps", **fields)
    logging.getLogger("uvicorn.error").warning("from tenant@example.com")
    info, debug, uvicorn = (json.loads(line) for line in stream.getvalue().splitlines())
    text = json.dumps(info)
    for secret in ("abc.def", "sha256=0123", "s=1", "k-1"):
        assert secret not in text
        assert secret not in json.dumps(debug)
    for personal in ("tenant@example.com", "Sanne", "1234 5678", "12345678"):
        assert personal not in text
    assert info["reporter_email"] == "[personal]"
    assert info["reason"] == "reporter [personal] ([personal]) is not in the table"
    assert info["reference"] == "100099"
    assert debug["reporter_email"] == "tenant@example.com"
    assert uvicorn["event"] == "from [personal]"


def test_personal_redaction_is_configurable(restore_logging: None) -> None:
    """redact_personal false keeps personal data; personal_fields names which keys count."""
    log, stream = render("json", LoggingSettings(redact_personal=False))
    log.info("x", email="tenant@example.com", token="t-1")
    line = json.loads(stream.getvalue())
    assert line["email"] == "tenant@example.com"
    assert line["token"] == "[redacted]"
    log, stream = render("json", LoggingSettings(personal_fields=("iban",)))
    log.info("x", tenant_IBAN="NL91ABNA0417164300", name="Sanne")
    line = json.loads(stream.getvalue())
    assert line["tenant_IBAN"] == "[personal]"
    assert line["name"] == "Sanne"


def test_logging_config_keys_load(tmp_path: Path) -> None:
    """`logging:` in the config file becomes Settings.logging; a wrong value names its key."""
    config = base_config("sqlite:///x.db", "http://127.0.0.1:9")
    config["logging"] = {"redact_personal": False, "personal_fields": ["email", "iban"]}
    settings = load_settings(write_config(tmp_path, config), os.environ)
    assert settings.logging == LoggingSettings(False, ("email", "iban"))
    config["logging"] = {"redact_personal": "yes"}
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, config), os.environ)
    assert "logging.redact_personal" in (caught.value.errors or {})
