"""``zixly-ingest``: serve the webhook receiver."""

from __future__ import annotations

import uvicorn

from zixly_ingest.bootstrap import build
from zixly_ingest.config import Settings
from zixly_ingest.logs import configure_logging


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, service="ingest")
    uvicorn.run(build(settings), host=settings.ingest_host, port=settings.ingest_port, log_config=None)
