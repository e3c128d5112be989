"""The `bloxs-adapter` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapter.errors import AdapterError, ConfigError

DEFAULT_CONFIG = "examples/adapter.yaml"


def _load(path: str) -> Any:
    from adapter.config import load_settings

    return load_settings(Path(path), os.environ)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _configure_logging(fmt: str = "auto", settings: Any = None) -> None:
    from adapter.logging import configure_logging

    configure_logging(fmt, os.environ.get("LOG_LEVEL", "info"), settings)


# --- serve, worker, demo, sandbox ---------------------------------------------------------


async def _serve(apps: Sequence[tuple[Any, str, int]]) -> None:
    import uvicorn

    servers = [
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False))
        for app, host, port in apps
    ]
    await asyncio.gather(*(server.serve() for server in servers))


def cmd_serve(args: argparse.Namespace) -> int:
    from adapter.app import create_app

    settings = _load(args.config)
    _configure_logging(settings.log_format, settings.logging)
    asyncio.run(_serve([(create_app(settings), args.host, args.port)]))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from adapter.worker import run_worker

    settings = _load(args.config)
    _configure_logging(settings.log_format, settings.logging)
    asyncio.run(run_worker(settings))
    return 0


def _sandbox_config(args: argparse.Namespace) -> Any:
    from adapter.bloxs.sandbox import Faults, SandboxConfig

    config = SandboxConfig(window_seconds=args.window_seconds)
    if args.token_lifetime is not None:
        config.token_lifetime_seconds = args.token_lifetime
    for bucket in ("update", "filter", "get", "authorization"):
        value = getattr(args, f"limit_{bucket}")
        if value is not None:
            config.limits[bucket] = value
    config.faults = Faults(
        error_rate=args.error_rate,
        latency_ms=args.latency_ms,
        drop_after_commit=args.drop_after_commit,
        seed=args.seed,
    )
    return config


def cmd_sandbox(args: argparse.Namespace) -> int:
    from adapter.bloxs.sandbox import create_sandbox_app

    _configure_logging()
    print(f"Bloxs sandbox on http://{args.host}:{args.port}", file=sys.stderr)
    asyncio.run(_serve([(create_sandbox_app(_sandbox_config(args)), args.host, args.port)]))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from adapter.app import create_app
    from adapter.bloxs.sandbox import create_sandbox_app

    settings = _load(args.config)
    sandbox_url = f"http://127.0.0.1:{args.sandbox_port}"
    settings = replace(
        settings,
        store_url=f"sqlite:///{Path(args.data).resolve() / 'bloxs-adapter.db'}",
        bloxs=replace(settings.bloxs, base_url=sandbox_url),
    )
    _configure_logging(settings.log_format, settings.logging)
    print(
        f"\n  bloxs-adapter on http://127.0.0.1:{args.port}   (webhooks: POST /webhooks/<source>)\n"
        f"  Bloxs sandbox on {sandbox_url}   (tickets: GET {sandbox_url}/_sandbox/tickets)\n"
        f"  store: {settings.store_url}\n",
        file=sys.stderr,
    )
    asyncio.run(
        _serve(
            [
                (create_sandbox_app(_sandbox_config(args)), "127.0.0.1", args.sandbox_port),
                (create_app(settings), args.host, args.port),
            ]
        )
    )
    return 0


# --- translate, check-config, schemas ------------------------------------------------------


def cmd_translate(args: argparse.Namespace) -> int:
    from adapter.translate import translate

    settings = _load(args.config)
    headers = dict(h.split(":", 1) for h in args.header)
    code, output = asyncio.run(
        translate(
            settings,
            args.source,
            Path(args.payload),
            Path(args.payload).read_bytes(),
            headers={k.strip().lower(): v.strip() for k, v in headers.items()},
            content_type=args.content_type,
            offline=args.offline,
        )
    )
    _print_json(output)
    return code


def cmd_check_config(args: argparse.Namespace) -> int:
    from adapter.config import check_config

    problems = check_config(Path(args.config), os.environ)
    if problems:
        print(f"{args.config}: {len(problems)} problem(s)", file=sys.stderr)
        for line in problems:
            print(f"  - {line}", file=sys.stderr)
        return 1
    print(f"{args.config}: OK")
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    from adapter import schemagen

    directory = Path(args.dir)
    if args.write:
        for path in schemagen.write_all(directory):
            print(path)
        return 0
    stale = schemagen.stale(directory)
    for name in stale:
        print(f"stale: {directory / name}", file=sys.stderr)
    return 1 if stale else 0


# --- deliveries -------------------------------------------------------------------------------


def _store(args: argparse.Namespace) -> Any:
    from adapter.store import Store

    settings = _load(args.config)
    store = Store(settings.store_url)
    store.migrate()
    return store


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _time_arg(text: str | None) -> float | None:
    from adapter.admin_views import parse_time

    try:
        return parse_time(text)
    except ValueError as exc:
        raise AdapterError(str(exc)) from None


def cmd_deliveries(args: argparse.Namespace) -> int:
    store = _store(args)
    now = time.time()
    if args.action == "list":
        rows = store.list(
            status=args.status,
            source=args.source,
            external_id=args.external_id,
            since=_time_arg(args.since),
            until=_time_arg(args.until),
            limit=args.limit,
        )
        if args.json:
            _print_json([d.public() for d in rows])
            return 0
        print(
            f"{'DELIVERY':30} {'RECEIVED':19} {'SOURCE':12} {'EXTERNAL ID':16} "
            f"{'KIND':7} {'STATUS':9} {'TRIES':5} REASON"
        )
        for d in rows:
            print(
                f"{d.delivery_id:30} {_when(d.received_at):19} {d.source[:12]:12} "
                f"{(d.external_id or '-')[:16]:16} {d.kind:7} {d.status:9} {d.attempts:<5} "
                f"{(d.last_error or '')[:80]}"
            )
        return 0
    if args.action == "show":
        from adapter.admin_views import delivery_view

        if not args.delivery_id:
            print("give a delivery id", file=sys.stderr)
            return 2
        found = store.get(args.delivery_id)
        if found is None:
            print(f"no delivery {args.delivery_id}", file=sys.stderr)
            return 1
        _print_json(delivery_view(found, store.attempts_of(found.id)))
        return 0
    if args.action == "replay":
        if args.parked:
            count = store.replay_parked(now, source=args.source)
            print(f"{count} parked deliveries queued again")
            return 0
        if not args.delivery_id:
            print("give a delivery id, or --parked", file=sys.stderr)
            return 2
        if store.replay(args.delivery_id, now):
            print(f"{args.delivery_id} queued again")
            return 0
        print(f"{args.delivery_id}: not found, or not parked/failed/cancelled", file=sys.stderr)
        return 1
    if args.action == "cancel":
        if not args.delivery_id:
            print("give a delivery id", file=sys.stderr)
            return 2
        if store.cancel(args.delivery_id, now):
            print(f"{args.delivery_id} cancelled")
            return 0
        print(f"{args.delivery_id}: not found, or already done", file=sys.stderr)
        return 1
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bloxs-adapter", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", default=os.environ.get("BLOXS_ADAPTER_CONFIG", DEFAULT_CONFIG))
        return p

    p = with_config(sub.add_parser("serve", help="the webhook server with its dispatcher"))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=cmd_serve)

    p = with_config(sub.add_parser("worker", help="only the dispatcher"))
    p.set_defaults(func=cmd_worker)

    def sandbox_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--window-seconds", type=float, default=60.0)
        p.add_argument("--token-lifetime", type=float, default=None)
        for bucket in ("update", "filter", "get", "authorization"):
            p.add_argument(f"--limit-{bucket}", type=int, default=None)
        p.add_argument("--error-rate", type=float, default=0.0)
        p.add_argument("--latency-ms", type=float, default=0.0)
        p.add_argument("--drop-after-commit", type=float, default=0.0)
        p.add_argument("--seed", type=int, default=None)

    p = with_config(sub.add_parser("demo", help="the adapter and the Bloxs sandbox, on SQLite"))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--sandbox-port", type=int, default=8089)
    p.add_argument("--data", default="data")
    sandbox_flags(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sandbox", help="a Bloxs look-alike for tests and trials")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8089)
    sandbox_flags(p)
    p.set_defaults(func=cmd_sandbox)

    p = with_config(sub.add_parser("translate", help="a payload file in, Bloxs requests out"))
    p.add_argument("--source", required=True)
    p.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    p.add_argument("--content-type", default=None)
    p.add_argument("--offline", action="store_true", help="do not read Bloxs's state lists")
    p.add_argument("payload")
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("check-config", help="validate a config file and its lookup tables")
    p.add_argument(
        "config", nargs="?", default=os.environ.get("BLOXS_ADAPTER_CONFIG", DEFAULT_CONFIG)
    )
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("schemas", help="check (or --write) the generated files in schemas/")
    p.add_argument("--write", action="store_true")
    p.add_argument("--dir", default="schemas")
    p.set_defaults(func=cmd_schemas)

    p = with_config(sub.add_parser("deliveries", help="inspect and replay stored deliveries"))
    p.add_argument("action", choices=["list", "show", "replay", "cancel"])
    p.add_argument("delivery_id", nargs="?")
    p.add_argument("--status")
    p.add_argument("--source")
    p.add_argument("--external-id")
    p.add_argument("--since", help="list: received at or after (ISO date/time, epoch seconds)")
    p.add_argument("--until", help="list: received before")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--parked", action="store_true", help="replay: every parked delivery")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_deliveries)
    return parser


# Commands whose stdout is their result (JSON, tables): their log lines go to stderr.
SERVER_COMMANDS = {"serve", "worker", "demo", "sandbox"}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in SERVER_COMMANDS:
        from adapter.logging import configure_logging

        configure_logging("auto", os.environ.get("LOG_LEVEL", "warning"), stream=sys.stderr)
    try:
        result: int = args.func(args)
        return result
    except ConfigError as exc:
        print(f"configuration error: {exc.detail}", file=sys.stderr)
        for key, messages in (exc.errors or {}).items():
            for message in messages:
                print(f"  {key}: {message}", file=sys.stderr)
        return 2
    except AdapterError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
