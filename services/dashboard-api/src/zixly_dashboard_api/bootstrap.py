"""Composition root: settings → a wired FastAPI app. Nothing runs at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from zixly_dashboard_api.adapters.postgres import PostgresReadModels, make_engine
from zixly_dashboard_api.config import Settings
from zixly_dashboard_api.entrypoints.http import create_app
from zixly_runtime.telemetry import instrument_http_service


def build(settings: Settings) -> FastAPI:
    engine = make_engine(settings.database_url, schema=settings.database_schema)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await engine.dispose()

    app = create_app(PostgresReadModels(engine), lifespan=lifespan)
    # Server spans, request metrics and GET /metrics (Prometheus).
    instrument_http_service(app, service="dashboard-api")
    return app
