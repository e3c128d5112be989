"""Webhook intake throughput: signed Jira posts into the adapter (verify, parse, lookups,
one durable SQLite transaction each) against a bare Starlette endpoint that answers 202 on
the same server stack, measured in the same run. Prints the ratio.

    ./run python bench/bench_intake.py [--requests 400] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapter.app import create_app
from adapter.config import load_settings
from adapter.logging import configure_logging
from tests.support.harness import (
    base_config,
    fixture_bytes,
    jira_signature,
    restamp,
    write_config,
)
from tests.support.server import ServerThread


def baseline_app() -> Starlette:
    async def accept(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"deliveryId": "x", "status": "pending"}, status_code=202)

    return Starlette(routes=[Route("/webhooks/{source}", accept, methods=["POST"])])


async def hammer(url: str, bodies: list[bytes], concurrency: int) -> float:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            response = await client.post(
                url,
                content=body,
                headers={
                    "content-type": "application/json",
                    "x-hub-signature": jira_signature(body),
                },
            )
            assert response.status_code == 202, response.text

    async with httpx.AsyncClient(timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - started


def bodies(n: int) -> list[bytes]:
    template = restamp(fixture_bytes("composed/jira_issue_created.json"))
    return [template.replace(b'"FAC-217"', f'"FAC-{n_}"'.encode()) for n_ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    configure_logging("json", "warning")
    payloads = bodies(args.requests)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        config = base_config(f"sqlite:///{Path(tmp) / 'store.db'}", "http://127.0.0.1:9")
        config["dispatcher"]["enabled"] = False
        config["log_format"] = "json"
        settings = load_settings(write_config(Path(tmp), config), {})
        with ServerThread(baseline_app()) as server:
            results["baseline"] = asyncio.run(
                hammer(f"{server.url}/webhooks/jira", payloads, args.concurrency)
            )
        with ServerThread(create_app(settings)) as server:
            results["adapter"] = asyncio.run(
                hammer(f"{server.url}/webhooks/jira", payloads, args.concurrency)
            )
    n = args.requests
    base, ours = results["baseline"], results["adapter"]
    print(f"intake: {n} signed Jira webhooks, concurrency {args.concurrency}")
    print(f"  baseline (bare 202):       {n / base:8.0f} req/s")
    print(f"  adapter (verify+map+store): {n / ours:8.0f} req/s")
    print(f"  throughput ratio adapter/baseline: {base / ours:.2f}")


if __name__ == "__main__":
    main()
