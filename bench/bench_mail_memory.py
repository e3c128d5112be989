"""Peak memory of taking in a 30 MiB mail post, as a ratio to the body size.

    .venv/bin/python bench/bench_mail_memory.py

The body arrives as 64 KiB ASGI chunks through the app's own `read_body` and then goes
through the source's verify() and parse(), measured with tracemalloc. Baselines from the same
run: allocating the body once (the floor, ~1.0), the old way of reading it (a list of chunks
joined at the end, ~2.0) and, for raw posts, the old way of parsing them (the standard
library's feed parser over the whole message, then every attachment decoded to learn its
size; a urlencoded field is streamed to it by the current form parser, where the old one
collected the field first). Raw posts carry a 22 MiB attachment, base64-encoded.

Last, a post served for real: uvicorn (h11) on 127.0.0.1 in a thread of this process, the
client in another process (an in-process client's own copies of the body would count too),
once to an endpoint that only drains the body (uvicorn's own buffering) and once to one
that calls read_body.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from email.feedparser import BytesFeedParser
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote_from_bytes
from zoneinfo import ZoneInfo

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from adapter import mail
from adapter.app import read_body
from adapter.multipart import parse_form
from adapter.settings import SourceSettings
from adapter.sources.base import Inbound, SourceType
from adapter.sources.mailgun import MailgunSource
from adapter.sources.sendgrid import SendgridSource

T = TypeVar("T")
SIZE = 30 * 1024 * 1024
CHUNK = 64 * 1024
BOUNDARY = "xYzZY"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
URLENCODED = "application/x-www-form-urlencoded"
TOKEN = "bench-token"
MAILGUN_KEY = "bench-signing-key"
CLIENT = """
import sys, httpx
body = open(sys.argv[2], "rb").read()
httpx.post(sys.argv[1], content=body, headers={"content-type": sys.argv[3]}).raise_for_status()
"""


def part(name: str, value: bytes, extra: str = "") -> bytes:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n\r\n'
    return head.encode() + value + b"\r\n"


def parsed_post() -> bytes:
    """SendGrid parsed mode: text parts and one attachment part filling the post to 30 MiB."""
    head = part("from", b"Bench <bench@example.nl>") + part("subject", b"Groot bestand")
    head += part("text", b"Zie bijlage.") + part("headers", b"Message-ID: <bench-1@example.nl>")
    tail = f"--{BOUNDARY}--\r\n".encode()
    extra = '; filename="scan.pdf"\r\nContent-Type: application/pdf'
    filler = SIZE - len(head) - len(tail) - len(part("attachment1", b"", extra))
    return head + part("attachment1", b"%" * filler, extra) + tail


def raw_message() -> bytes:
    """A whole MIME message with a base64 attachment (76-character lines, as mailers send)."""
    encoded = base64.encodebytes(bytes(range(256)) * ((SIZE * 3 // 4 - 4096) // 256))
    return (
        b"From: Bench <bench@example.nl>\r\nSubject: Groot\r\nMessage-ID: <bench-2@example.nl>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"This is a multi-part message in MIME format.\r\n"
        b"--b1\r\nContent-Type: text/plain\r\n\r\nZie bijlage.\r\n"
        b"--b1\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="a.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--b1--\r\n"
    )


def sendgrid_raw_post() -> bytes:
    """SendGrid "Send Raw": the message in the `email` part."""
    return part("email", raw_message()) + f"--{BOUNDARY}--\r\n".encode()


def mailgun_fields() -> list[tuple[str, bytes]]:
    stamp = str(int(time.time()))
    token = "bench-mailgun-token-0123456789abcdef0123456789ab"
    signature = hmac.new(MAILGUN_KEY.encode(), (stamp + token).encode(), hashlib.sha256)
    return [
        ("timestamp", stamp.encode()),
        ("token", token.encode()),
        ("signature", signature.hexdigest().encode()),
        ("body-mime", raw_message()),
    ]


def mailgun_multipart_post() -> bytes:
    """A Mailgun "mime" route as multipart/form-data: the message in `body-mime`."""
    body = b"".join(part(name, value) for name, value in mailgun_fields())
    return body + f"--{BOUNDARY}--\r\n".encode()


def mailgun_urlencoded_post() -> bytes:
    """The same route as application/x-www-form-urlencoded."""
    pairs = (
        f"{name}=".encode() + quote_from_bytes(value).encode() for name, value in mailgun_fields()
    )
    return b"&".join(pairs)


def request_for(body: bytes, content_type: str) -> Request:
    view = memoryview(body)
    offsets = iter(range(0, len(body), CHUNK))

    async def receive() -> dict[str, Any]:
        start = next(offsets, None)
        if start is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk = bytes(view[start : start + CHUNK])
        return {"type": "http.request", "body": chunk, "more_body": start + CHUNK < len(body)}

    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
    return Request(scope, receive)


async def joined(request: Request) -> bytes:
    """How read_body used to hold the body: the chunks, then their join."""
    chunks = [chunk async for chunk in request.stream()]
    return b"".join(chunks)


def complete(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine whose awaits never wait (the fake receive above) in one step.

    Not asyncio.run: on Python 3.11, asyncio.Runner.run ends (in the main thread) with
    signal.getsignal(SIGINT), which tries Handlers(its own SIGINT handler), a partial holding
    the main task; the enum's ValueError message is built with repr() of that partial, so of
    the task, so reprlib.repr(task result), which makes the whole repr of the returned body
    before cutting it short: a second body-sized peak. A served request is never that task.
    """
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise RuntimeError("the coroutine waited")


def peak_ratio(work: Callable[[], object], size: int) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = work()
    peak = tracemalloc.get_traced_memory()[1]
    del result
    tracemalloc.stop()
    return peak / size


def old_raw_parse(body: bytes, content_type: str, field: str) -> object:
    """How raw posts were parsed before adapter.mime: the whole message into the standard
    library's feed parser, then each attachment decoded to learn its size."""
    data = complete(read_body(request_for(body, content_type), len(body)))
    feed = BytesFeedParser()
    parse_form(data, content_type, sinks={field: feed.feed})
    return mail.mail_from_message(feed.close(), delivery_key="")


def settings(type_name: str, options: dict[str, Any]) -> SourceSettings:
    return SourceSettings(
        name=type_name,
        type=type_name,
        timezone=ZoneInfo("Europe/Amsterdam"),
        max_body_bytes=2 * SIZE,
        default_reporter="100099",
        options=options,
    )


def main() -> None:
    sendgrid = SendgridSource(settings("sendgrid", {"tokens": [TOKEN]}))
    mailgun = MailgunSource(settings("mailgun", {"signing_keys": [MAILGUN_KEY]}))
    cases: list[tuple[str, SourceType, bytes, str, str | None]] = [
        ("SendGrid parsed post", sendgrid, parsed_post(), MULTIPART, None),
        ("SendGrid raw post", sendgrid, sendgrid_raw_post(), MULTIPART, "email"),
        ("Mailgun body-mime, multipart", mailgun, mailgun_multipart_post(), MULTIPART, "body-mime"),
        (
            "Mailgun body-mime, urlencoded",
            mailgun,
            mailgun_urlencoded_post(),
            URLENCODED,
            "body-mime",
        ),
    ]
    for name, source, body, content_type, raw_field in cases:
        report(name, source, body, content_type, raw_field)
    served(cases[0][2], MULTIPART)


def report(
    name: str, source: SourceType, body: bytes, content_type: str, raw_field: str | None
) -> None:
    size = len(body)

    def intake() -> object:
        data = complete(read_body(request_for(body, content_type), size))
        inbound = Inbound(
            headers={"content-type": content_type},
            body=data,
            received_at=datetime.now(UTC),
            query={"token": TOKEN},
        )
        source.verify(inbound)
        return source.parse(inbound)

    def line(label: str, ratio: float) -> None:
        print(f"  {label:36s} {ratio:.2f}")

    print(f"{name}, {size / 1024 / 1024:.1f} MiB, peak / body size:")
    line("baseline bytes(size)", peak_ratio(lambda: bytes(size), size))
    line(
        "chunks + join (old intake)",
        peak_ratio(lambda: complete(joined(request_for(body, content_type))), size),
    )
    line(
        "read_body",
        peak_ratio(lambda: complete(read_body(request_for(body, content_type), size)), size),
    )
    line("read_body + verify + parse", peak_ratio(intake, size))
    if raw_field is not None:
        line(
            "read_body + old raw parse (stdlib)",
            peak_ratio(lambda: old_raw_parse(body, content_type, raw_field), size),
        )


async def drain(request: Request) -> Response:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return PlainTextResponse(str(size))


async def take(request: Request) -> Response:
    return PlainTextResponse(str(len(await read_body(request, 2 * SIZE))))


def client(url: str, path: Path, content_type: str) -> Callable[[], object]:
    def post() -> object:
        command = [sys.executable, "-c", CLIENT, url, str(path), content_type]
        return subprocess.run(command, check=True)  # noqa: S603 (this interpreter, our script)

    return post


def served(body: bytes, content_type: str) -> None:
    app = Starlette(
        routes=[Route("/drain", drain, methods=["POST"]), Route("/take", take, methods=["POST"])]
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(f"Served by uvicorn, {len(body) / 1024 / 1024:.1f} MiB post, peak / body size:")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "body"
        path.write_bytes(body)
        for label, route in (
            ("endpoint drains the stream", "/drain"),
            ("endpoint calls read_body", "/take"),
        ):
            url = f"http://127.0.0.1:{port}{route}"
            ratio = peak_ratio(client(url, path, content_type), len(body))
            print(f"  {label:36s} {ratio:.2f}")
    server.should_exit = True
    thread.join()


if __name__ == "__main__":
    main()
