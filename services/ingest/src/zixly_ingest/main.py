"""``zixly-ingest [run]`` serves the webhook receiver; ``zixly-ingest migrate`` applies its schema."""

from __future__ import annotations

import argparse
import sys

import uvicorn
from pydantic import ValidationError

from zixly_ingest.adapters.migrations import upgrade
from zixly_ingest.bootstrap import ConfigurationError, build
from zixly_ingest.config import Settings
from zixly_runtime.heap import freeze_startup_heap
from zixly_runtime.logs import configure_logging
from zixly_runtime.telemetry import configure_tracing


def describe(exc: ValidationError) -> str:
    """The errors without the input values: a rejected setting may be a secret."""
    return "; ".join(
        f"{'ZIXLY_' + '.'.join(str(p) for p in e['loc']).upper() if e['loc'] else 'settings'}: {e['msg']}"
        for e in exc.errors(include_input=False, include_url=False, include_context=False)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="zixly-ingest")
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=["run", "migrate"],
        help="run: serve webhooks (the default); migrate: Alembic upgrade head of schema ingest",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings()
        configure_logging(settings.log_level, service="ingest")
        if args.command == "migrate":
            if settings.database_url is None:
                raise ConfigurationError("ZIXLY_DATABASE_URL is required: the dedupe records live there")
            upgrade(settings.database_url)
            return
        configure_tracing("ingest", settings.otel_exporter)
        app = build(settings)
    except ValidationError as exc:
        sys.exit(f"zixly-ingest: invalid configuration: {describe(exc)}")
    except (ConfigurationError, ValueError) as exc:
        sys.exit(f"zixly-ingest: invalid configuration: {exc}")
    freeze_startup_heap(20_000, 50, 100)
    uvicorn.run(
        app,
        host=settings.ingest_host,
        port=settings.ingest_port,
        log_config=None,
        # One structured line per webhook comes from the use case; uvicorn's access log would double it.
        access_log=False,
        # Nothing here reads the client address, so X-Forwarded-* handling is a cost without a use.
        proxy_headers=False,
        timeout_graceful_shutdown=15,
    )
