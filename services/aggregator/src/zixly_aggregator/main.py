"""``zixly-aggregator migrate`` applies the schema; ``zixly-aggregator run`` projects events."""

from __future__ import annotations

import argparse

import uvicorn

from zixly_aggregator.adapters.migrations import upgrade
from zixly_aggregator.bootstrap import build
from zixly_aggregator.config import Settings
from zixly_runtime.logs import configure_logging
from zixly_runtime.telemetry import configure_tracing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="zixly-aggregator")
    parser.add_argument("command", choices=["migrate", "run"])
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, service="aggregator")
    if args.command == "migrate":
        upgrade(settings.database_url, schema=settings.database_schema)
        return
    configure_tracing("aggregator", settings.otel_exporter)
    uvicorn.run(
        build(settings, hard_exit=True),
        host=settings.aggregator_http_host,
        port=settings.aggregator_http_port,
        log_config=None,
        access_log=False,
        # HTTP connections (probes, scrapes) only; the consumer's grace is ZIXLY_SHUTDOWN_GRACE_S.
        timeout_graceful_shutdown=5,
    )
