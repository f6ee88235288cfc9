"""``GET /metrics`` of the dashboard built by its composition root: request counts by route template."""

from __future__ import annotations

import httpx

from zixly_dashboard_api.bootstrap import build
from zixly_dashboard_api.config import Settings


async def test_requests_are_counted_by_route_template():
    app = build(Settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dashboard") as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/healthz")).status_code == 200
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'zixly_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in response.text
    assert "zixly_http_request_duration_seconds_bucket" in response.text
