"""structlog JSON logs, one line per event, with the service name and the current trace ids.

Every line carries the context bound by the consumer shell (``correlation_id``, ``event_id``, ``subject``)
and the current OpenTelemetry ``trace_id`` / ``span_id``, so logs and traces of one webhook join up.
The services' own lines take structlog's native path (no stdlib ``LogRecord`` per line: it is on the hot
path of every webhook and task); the libraries' stdlib logs (uvicorn, aiokafka, asyncpg) are rendered
the same way by a stdlib handler.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from zixly_runtime.telemetry import add_trace_ids


class _NamedWriteLogger(structlog.WriteLogger):
    """A ``WriteLogger`` that knows its name, for ``add_logger_name``."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at write time (a logger cached earlier keeps writing to the live one)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _Factory:
    def __call__(self, *args: Any) -> _NamedWriteLogger:
        return _NamedWriteLogger(_CurrentStderr(), str(args[0]) if args else "zixly")  # type: ignore[arg-type]


def configure_logging(level: str, *, service: str) -> None:
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        add_trace_ids,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        logger_factory=_Factory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.contextvars.bind_contextvars(service=service)
