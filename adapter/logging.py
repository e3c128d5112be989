"""structlog configuration: JSON lines in a container, the console renderer on a terminal.

Configured once, at the entry point (cli.py); library code only does
`log = structlog.get_logger(__name__)`. The stdlib's records (uvicorn's, SQLAlchemy's) go
through the same processors, redaction included, and the same renderer.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from adapter.redact import processors as redaction
from adapter.settings import LoggingSettings


def configure_logging(
    fmt: str = "auto",
    level: str = "info",
    settings: LoggingSettings | None = None,
    *,
    stream: TextIO | None = None,
    cache: bool = True,
) -> None:
    """`stream` (default stdout) and `cache=False` are for tests that configure logging and
    then give the global configuration back."""
    settings = settings or LoggingSettings()
    stream = stream or sys.stdout
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if fmt == "console" else structlog.processors.JSONRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Exceptions are rendered to text before redaction, so a secret in a traceback's
        # message is caught as well as one in a field.
        structlog.processors.format_exc_info
        if fmt == "json"
        else structlog.processors.StackInfoRenderer(),
        *redaction(settings.redact_personal, settings.personal_fields),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=cache,
    )
    # uvicorn's and the stdlib's own records go through the same renderer.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.setLevel(logging.NOTSET)  # the root's level (LOG_LEVEL) decides
    # httpx logs every request at INFO with the full URL; our client logs one line per call.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
