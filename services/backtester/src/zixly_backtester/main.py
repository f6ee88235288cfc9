"""``zixly-backtester``: plan sweeps and run backtest tasks as one member of the consumer group."""

from __future__ import annotations

import uvicorn

from zixly_backtester.bootstrap import build
from zixly_backtester.config import Settings
from zixly_runtime.logs import configure_logging
from zixly_runtime.telemetry import configure_tracing


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, service="backtester")
    configure_tracing("backtester", settings.otel_exporter)
    uvicorn.run(
        build(settings, hard_exit=True),
        host=settings.backtester_http_host,
        port=settings.backtester_http_port,
        log_config=None,
        access_log=False,
        # HTTP connections (probes, scrapes) only; the consumers' grace is ZIXLY_SHUTDOWN_GRACE_S.
        timeout_graceful_shutdown=5,
    )
