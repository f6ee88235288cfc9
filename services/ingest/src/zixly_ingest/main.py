"""``zixly-ingest``: serve the webhook receiver."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from zixly_ingest.bootstrap import ConfigurationError, build
from zixly_ingest.config import Settings
from zixly_ingest.logs import configure_logging


def describe(exc: ValidationError) -> str:
    """The errors without the input values: a rejected setting may be a secret."""
    return "; ".join(
        f"{'ZIXLY_' + '.'.join(str(p) for p in e['loc']).upper() if e['loc'] else 'settings'}: {e['msg']}"
        for e in exc.errors(include_input=False, include_url=False, include_context=False)
    )


def main() -> None:
    try:
        settings = Settings()
        configure_logging(settings.log_level, service="ingest")
        app = build(settings)
    except ValidationError as exc:
        sys.exit(f"zixly-ingest: invalid configuration: {describe(exc)}")
    except ConfigurationError as exc:
        sys.exit(f"zixly-ingest: invalid configuration: {exc}")
    uvicorn.run(
        app,
        host=settings.ingest_host,
        port=settings.ingest_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=15,
    )
