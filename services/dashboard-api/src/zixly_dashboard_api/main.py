"""``zixly-dashboard-api``: serve the read-only API and the live page."""

from __future__ import annotations

import uvicorn

from zixly_dashboard_api.bootstrap import build
from zixly_dashboard_api.config import Settings
from zixly_runtime.logs import configure_logging


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, service="dashboard-api")
    uvicorn.run(build(settings), host=settings.dashboard_host, port=settings.dashboard_port, log_config=None)
