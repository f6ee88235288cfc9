"""``zixly-backtester``: plan sweeps and run backtest tasks as one member of the consumer group."""

from __future__ import annotations

import uvicorn

from zixly_backtester.bootstrap import build
from zixly_backtester.config import Settings
from zixly_runtime.logs import configure_logging


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, service="backtester")
    uvicorn.run(
        build(settings),
        host=settings.backtester_http_host,
        port=settings.backtester_http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )
