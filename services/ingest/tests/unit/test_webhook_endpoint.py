"""The webhook endpoint, through the real HTTP app with a fake publisher (nothing leaves the process)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from zixly_contracts import ids
from zixly_contracts.envelope import Envelope
from zixly_contracts.events import SweepRequested, WebhookReceived
from zixly_contracts.topics import SWEEPS_REQUESTED, WEBHOOKS_RECEIVED
from zixly_ingest.adapters.signatures import StandardWebhooksVerifier
from zixly_ingest.domain.errors import BrokerUnavailable
from zixly_ingest.entrypoints.http import create_app

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
SPEC = {
    "name": "unit",
    "datasets": [{"symbol": "GOOG_1d", "periods_per_year": 252}],
    "strategies": [{"name": "sma_cross", "grid": {"fast": [10], "slow": [20]}}],
}


class FakeEventPublisher:
    def __init__(self, fail: bool = False) -> None:
        self.published: list[tuple[str, Envelope[Any], str]] = []
        self.fail = fail

    async def publish(self, topic: str, event: Envelope[Any], key: str) -> None:
        if self.fail:
            raise BrokerUnavailable("the broker did not acknowledge")
        self.published.append((topic, event, key))


def client(publisher: FakeEventPublisher, **limits: int) -> httpx.AsyncClient:
    async def ready() -> bool:
        return True

    app = create_app(
        verifier=StandardWebhooksVerifier({"trading-api": [SECRET, OLD_SECRET]}),
        publisher=publisher,
        max_body_bytes=limits.get("max_body_bytes", 10_000),
        max_backtests=limits.get("max_backtests", 1_000),
        ready=ready,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest")


def signed(
    body: bytes, *, secret: str = SECRET, webhook_id: str = "msg_1", at: datetime | None = None
) -> dict:
    at = at or datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body.decode()),
        "content-type": "application/json",
    }


def payload(spec: dict = SPEC) -> bytes:
    return json.dumps({"type": "sweep.requested", "data": spec}).encode()


async def test_accepted_webhook_publishes_both_events_then_answers_202():
    publisher = FakeEventPublisher()
    body = payload()
    async with client(publisher) as c:
        response = await c.post("/webhooks/trading-api", content=body, headers=signed(body))
    assert response.status_code == 202
    sweep_id = ids.sweep_id("trading-api", "msg_1")
    assert response.json() == {"sweep_id": sweep_id, "webhook_id": "msg_1", "status": "accepted"}
    topics = [(topic, key) for topic, _, key in publisher.published]
    assert topics == [(WEBHOOKS_RECEIVED, "msg_1"), (SWEEPS_REQUESTED, sweep_id)]
    received, requested = publisher.published[0][1], publisher.published[1][1]
    assert isinstance(received.data, WebhookReceived)
    assert received.data.body == body.decode()
    assert isinstance(requested.data, SweepRequested)
    assert requested.data.spec.strategies[0].name == "sma_cross"
    assert requested.correlation_id == "msg_1"
    assert requested.causation_id == received.id
    assert requested.subject == sweep_id


async def test_a_rotated_out_secret_still_verifies_during_rotation():
    publisher = FakeEventPublisher()
    body = payload()
    async with client(publisher) as c:
        response = await c.post(
            "/webhooks/trading-api", content=body, headers=signed(body, secret=OLD_SECRET)
        )
    assert response.status_code == 202


async def test_redelivery_gets_the_same_sweep_and_event_ids():
    publisher = FakeEventPublisher()
    body = payload()
    async with client(publisher) as c:
        first = await c.post("/webhooks/trading-api", content=body, headers=signed(body))
        later = datetime.now(UTC) + timedelta(seconds=60)
        second = await c.post("/webhooks/trading-api", content=body, headers=signed(body, at=later))
    assert first.json()["sweep_id"] == second.json()["sweep_id"]
    assert publisher.published[1][1].id == publisher.published[3][1].id


def problem_of(response: httpx.Response) -> dict:
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == response.status_code
    assert body["type"].startswith("https://zixly.dev/problems/")
    return body


@pytest.mark.parametrize(
    ("mutate", "status", "slug"),
    [
        (
            lambda h, b: {**h, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()},
            401,
            "invalid-signature",
        ),
        (lambda h, b: {**h, "webhook-signature": "garbage-without-comma"}, 401, "invalid-signature"),
        (lambda h, b: {k: v for k, v in h.items() if k != "webhook-id"}, 400, "malformed-request"),
        (
            lambda h, b: {**h, "webhook-timestamp": str(int(datetime.now(UTC).timestamp()) - 301)},
            401,
            "invalid-signature",
        ),
        (lambda h, b: {**h, "content-type": "text/plain"}, 415, "unsupported-media-type"),
    ],
)
async def test_refusals_are_problems_and_publish_nothing(mutate, status, slug):
    publisher = FakeEventPublisher()
    body = payload()
    async with client(publisher) as c:
        response = await c.post("/webhooks/trading-api", content=body, headers=mutate(signed(body), body))
    assert response.status_code == status, response.text
    assert problem_of(response)["type"].endswith(slug)
    assert publisher.published == []


async def test_a_forged_body_is_401():
    publisher = FakeEventPublisher()
    body = payload()
    headers = signed(body)
    tampered = body.replace(b"unit", b"evil")
    async with client(publisher) as c:
        response = await c.post("/webhooks/trading-api", content=tampered, headers=headers)
    assert response.status_code == 401
    assert publisher.published == []


async def test_unknown_source_is_404():
    body = payload()
    async with client(FakeEventPublisher()) as c:
        response = await c.post("/webhooks/nobody", content=body, headers=signed(body))
    assert response.status_code == 404
    assert "nobody" in problem_of(response)["detail"]


async def test_non_utf8_body_is_400():
    body = b'{"type": "sweep.requested", "data": "\xff\xfe"}'
    headers = signed(b"placeholder")
    async with client(FakeEventPublisher()) as c:
        response = await c.post("/webhooks/trading-api", content=body, headers=headers)
    assert response.status_code == 400
    assert "UTF-8" in problem_of(response)["detail"]


async def test_invalid_sweep_is_422_naming_the_field():
    bad = {**SPEC, "datasets": []}
    body = payload(bad)
    async with client(FakeEventPublisher()) as c:
        response = await c.post("/webhooks/trading-api", content=body, headers=signed(body))
    assert response.status_code == 422
    assert "data.datasets" in problem_of(response)["detail"]


async def test_a_sweep_over_the_limit_is_422():
    big = {
        **SPEC,
        "strategies": [
            {
                "name": "sma_cross",
                "grid": {
                    "fast": {"start": 1, "stop": 100, "step": 1},
                    "slow": {"start": 1, "stop": 100, "step": 1},
                },
            }
        ],
    }
    body = payload(big)
    async with client(FakeEventPublisher(), max_backtests=5_000) as c:
        response = await c.post("/webhooks/trading-api", content=body, headers=signed(body))
    assert response.status_code == 422
    assert "10000 backtests" in problem_of(response)["detail"]


async def test_body_over_the_cap_is_413_even_when_chunked():
    body = payload()

    async def chunks():
        yield body[:50]
        yield body[50:]

    async with client(FakeEventPublisher(), max_body_bytes=60) as c:
        response = await c.post("/webhooks/trading-api", content=chunks(), headers=signed(body))
    assert response.status_code == 413
    assert "60 bytes" in problem_of(response)["detail"]


async def test_broker_down_is_503_with_retry_after():
    body = payload()
    async with client(FakeEventPublisher(fail=True)) as c:
        response = await c.post("/webhooks/trading-api", content=body, headers=signed(body))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    problem_of(response)
