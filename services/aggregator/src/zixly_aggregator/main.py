"""``zixly-aggregator migrate`` applies the schema; ``zixly-aggregator run`` projects events."""

from __future__ import annotations

import argparse

import uvicorn

from zixly_aggregator.adapters.migrations import upgrade
from zixly_aggregator.bootstrap import build
from zixly_aggregator.config import Settings
from zixly_runtime.logs import configure_logging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="zixly-aggregator")
    parser.add_argument("command", choices=["migrate", "run"])
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, service="aggregator")
    if args.command == "migrate":
        upgrade(settings.database_url)
        return
    uvicorn.run(
        build(settings),
        host=settings.aggregator_http_host,
        port=settings.aggregator_http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )
