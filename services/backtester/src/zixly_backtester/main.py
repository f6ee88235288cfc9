"""``zixly-backtester``: plan sweeps and run backtest tasks as one member of the consumer group."""

from __future__ import annotations

import uvicorn

from zixly_backtester.bootstrap import build
from zixly_backtester.config import Settings
from zixly_runtime.heap import freeze_startup_heap
from zixly_runtime.logs import configure_logging
from zixly_runtime.telemetry import configure_tracing


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, service="backtester")
    configure_tracing("backtester", settings.otel_exporter)
    app = build(settings, hard_exit=True)
    # One message after another: the youngest generation after 10,000 net allocations instead of 700.
    freeze_startup_heap(10_000, 10, 10)
    uvicorn.run(
        app,
        host=settings.backtester_http_host,
        port=settings.backtester_http_port,
        log_config=None,
        access_log=False,
        # HTTP connections (probes, scrapes) only; the consumers' grace is ZIXLY_SHUTDOWN_GRACE_S.
        timeout_graceful_shutdown=5,
    )
