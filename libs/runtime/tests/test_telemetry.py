"""Request metrics and ``GET /metrics`` on a plain FastAPI app."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from zixly_runtime.telemetry import HttpMetrics, add_metrics_route


async def test_metrics_are_served_at_the_path_itself_with_route_templates():
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    registry = CollectorRegistry()
    app.add_middleware(HttpMetrics, registry=registry)
    add_metrics_route(app, registry)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        await http.get("/items/a")
        await http.get("/items/b")
        await http.get("/nowhere")
        response = await http.get("/metrics")
    assert response.status_code == 200  # not a redirect to /metrics/
    assert (
        'zixly_http_requests_total{method="GET",route="/items/{item_id}",status="200"} 2.0' in response.text
    )
    assert 'zixly_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in response.text
