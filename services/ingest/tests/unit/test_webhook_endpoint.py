"""The webhook endpoint through the app the composition root builds, with fake ports (nothing leaves
the process): outcomes, refusals as problems, limits, and what is published."""

from __future__ import annotations

import base64
import time

import pytest
from ingest_testkit import (
    OLD_SECRET,
    SOURCE,
    SPEC,
    FakeDedupeStore,
    FakeEventPublisher,
    asgi_client,
    fake_app,
    payload,
    problem_of,
    signed,
)

from zixly_contracts import ids
from zixly_contracts.events import SweepRequested, WebhookReceived
from zixly_contracts.sweep_spec import GRID_VALUE_ERROR, MAX_DATASETS
from zixly_contracts.topics import SWEEPS_REQUESTED, WEBHOOKS_RECEIVED

URL = f"/webhooks/{SOURCE}"


async def test_accepted_webhook_publishes_both_events_then_answers_202():
    publisher = FakeEventPublisher()
    body = payload()
    async with asgi_client(fake_app(publisher)) as c:
        response = await c.post(URL, content=body, headers=signed(body))
    assert response.status_code == 202
    sweep_id = ids.sweep_id(SOURCE, "msg_1")
    assert response.json() == {"sweep_id": sweep_id, "webhook_id": "msg_1", "status": "accepted"}
    assert [(out.topic, out.key) for out in publisher.published] == [
        (WEBHOOKS_RECEIVED, "msg_1"),
        (SWEEPS_REQUESTED, sweep_id),
    ]
    received, requested = publisher.published[0].event, publisher.published[1].event
    assert isinstance(received.data, WebhookReceived)
    assert received.data.body == body.decode()
    assert {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type"} <= set(
        received.data.headers
    )
    assert isinstance(requested.data, SweepRequested)
    assert requested.data.spec.strategies[0].name == "sma_cross"
    assert requested.correlation_id == "msg_1"
    assert requested.causation_id == received.id
    assert requested.subject == sweep_id


async def test_a_rotated_out_secret_still_verifies_during_rotation():
    body = payload()
    async with asgi_client(fake_app()) as c:
        response = await c.post(URL, content=body, headers=signed(body, secret=OLD_SECRET))
    assert response.status_code == 202


async def test_redelivery_is_a_duplicate_with_the_same_answer_and_publishes_nothing_more():
    publisher = FakeEventPublisher()
    body = payload()
    async with asgi_client(fake_app(publisher)) as c:
        first = await c.post(URL, content=body, headers=signed(body))
        second = await c.post(URL, content=body, headers=signed(body, at=time.time() + 60))
    assert first.status_code == second.status_code == 202
    assert first.json()["sweep_id"] == second.json()["sweep_id"]
    assert second.json()["status"] == "duplicate"
    assert len(publisher.published) == 2


async def test_the_same_id_with_another_body_is_409_and_publishes_nothing():
    publisher = FakeEventPublisher()
    body = payload()
    other = payload({**SPEC, "name": "other"})
    async with asgi_client(fake_app(publisher)) as c:
        await c.post(URL, content=body, headers=signed(body))
        response = await c.post(URL, content=other, headers=signed(other))
    assert response.status_code == 409
    assert problem_of(response)["type"].endswith("webhook-id-reused")
    assert len(publisher.published) == 2


@pytest.mark.parametrize(
    ("mutate", "status", "slug"),
    [
        (
            lambda h: {**h, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()},
            401,
            "invalid-signature",
        ),
        (lambda h: {**h, "webhook-signature": "garbage-without-comma"}, 401, "invalid-signature"),
        (lambda h: {**h, "webhook-signature": "v1,not*base64"}, 401, "invalid-signature"),
        (lambda h: {**h, "webhook-signature": "v2,abc"}, 401, "invalid-signature"),
        (lambda h: {k: v for k, v in h.items() if k != "webhook-id"}, 400, "malformed-request"),
        (lambda h: {**h, "webhook-timestamp": "17e8"}, 400, "malformed-request"),
        (lambda h: {**h, "webhook-timestamp": str(int(time.time()) - 301)}, 401, "stale-timestamp"),
        (lambda h: {**h, "content-type": "text/plain"}, 415, "unsupported-media-type"),
        (lambda h: {**h, "content-type": "application/json; charset=latin-1"}, 415, "unsupported-media-type"),
        (lambda h: {k: v for k, v in h.items() if k != "content-type"}, 415, "unsupported-media-type"),
    ],
)
async def test_refusals_are_problems_and_publish_nothing(mutate, status, slug):
    publisher = FakeEventPublisher()
    body = payload()
    async with asgi_client(fake_app(publisher)) as c:
        response = await c.post(URL, content=body, headers=mutate(signed(body)))
    assert response.status_code == status, response.text
    assert problem_of(response)["type"].endswith(slug)
    assert publisher.published == []


async def test_a_forged_body_is_401():
    publisher = FakeEventPublisher()
    body = payload()
    headers = signed(body)
    async with asgi_client(fake_app(publisher)) as c:
        response = await c.post(URL, content=body.replace(b"unit", b"evil"), headers=headers)
    assert response.status_code == 401
    assert publisher.published == []


async def test_unknown_source_is_404():
    body = payload()
    async with asgi_client(fake_app()) as c:
        response = await c.post("/webhooks/nobody", content=body, headers=signed(body))
    assert response.status_code == 404
    assert "nobody" in problem_of(response)["detail"]


async def test_invalid_json_is_400_and_an_invalid_sweep_is_422_naming_the_field():
    broken = b'{"type": "sweep.requested", "data": '
    bad = payload({**SPEC, "datasets": []})
    async with asgi_client(fake_app()) as c:
        response = await c.post(URL, content=broken, headers=signed(broken))
        assert response.status_code == 400
        assert "JSON" in problem_of(response)["detail"]
        response = await c.post(URL, content=bad, headers=signed(bad))
    assert response.status_code == 422
    problem = problem_of(response)
    assert "data.datasets" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["data", "datasets"]


async def test_an_invalid_grid_is_one_error_per_mistake_at_the_senders_own_path():
    grid = {"fast": "abc", "slow": {"start": 20, "step": 10}}
    bad = payload({**SPEC, "strategies": [{"name": "sma_cross", "grid": grid}]})
    async with asgi_client(fake_app()) as c:
        response = await c.post(URL, content=bad, headers=signed(bad))
    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["type"].endswith("invalid-sweep")
    assert problem["errors"] == [
        {"loc": ["data", "strategies", 0, "grid", "fast"], "msg": GRID_VALUE_ERROR, "type": "grid_value"},
        {
            "loc": ["data", "strategies", 0, "grid", "slow", "stop"],
            "msg": "Field required",
            "type": "missing",
        },
    ]
    assert problem["detail"] == (
        f"data.strategies.0.grid.fast: {GRID_VALUE_ERROR}; data.strategies.0.grid.slow.stop: Field required"
    )


async def test_nan_and_infinity_are_not_json():
    body = payload({**SPEC, "strategies": [{"name": "sma_cross", "grid": {"fast": [10]}}]}).replace(
        b"[10]", b"[NaN]"
    )
    async with asgi_client(fake_app()) as c:
        response = await c.post(URL, content=body, headers=signed(body))
    assert response.status_code == 400


async def test_an_unmapped_payload_type_is_422_and_an_ignored_one_is_202_without_events():
    publisher = FakeEventPublisher()
    sources = {
        "github-like": {
            "secrets": ["whsec_" + base64.b64encode(b"g" * 32).decode()],
            "events": {"sweep.requested": "sweep.requested", "ping": "ignore"},
        }
    }
    secret = sources["github-like"]["secrets"][0]
    ping = b'{"type": "ping", "data": {}}'
    other = b'{"type": "order.filled", "data": {}}'
    async with asgi_client(fake_app(publisher, ingest_sources=sources)) as c:
        ignored = await c.post("/webhooks/github-like", content=ping, headers=signed(ping, secret=secret))
        refused = await c.post(
            "/webhooks/github-like", content=other, headers=signed(other, secret=secret, webhook_id="m2")
        )
    assert ignored.status_code == 202
    assert ignored.json() == {"status": "ignored", "webhook_id": "msg_1"}
    assert refused.status_code == 422
    assert "order.filled" in problem_of(refused)["detail"]
    assert publisher.published == []


async def test_a_sweep_over_a_limit_is_422_saying_which_limit():
    big = {
        **SPEC,
        "datasets": [{"symbol": s, "periods_per_year": 252} for s in ("A", "B", "C")],
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
    app = fake_app(
        ingest_max_backtests_per_sweep=5_000,
        ingest_max_symbols_per_sweep=2,
        ingest_max_bars_per_sweep=1_000_000,
        ingest_dataset_bars={"A": 1000},
    )
    async with asgi_client(app) as c:
        response = await c.post(URL, content=body, headers=signed(body))
    assert response.status_code == 422
    problem = problem_of(response)
    assert "30000 backtests" in problem["detail"]
    assert {item["limit"]: (item["asked"], item["max"]) for item in problem["limits"]} == {
        "backtests": (30_000, 5_000),
        "symbols": (3, 2),
        "bars": (10_000_000, 1_000_000),
    }


async def test_more_datasets_than_the_contract_allows_is_sweep_too_large_not_a_list_error():
    datasets = [{"symbol": f"S{n}", "periods_per_year": 252} for n in range(MAX_DATASETS + 1)]
    body = payload({**SPEC, "datasets": datasets})
    async with asgi_client(fake_app(ingest_max_symbols_per_sweep=MAX_DATASETS + 50)) as c:
        response = await c.post(URL, content=body, headers=signed(body))
    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["type"].endswith("sweep-too-large")
    assert problem["limits"] == [{"limit": "symbols", "asked": MAX_DATASETS + 1, "max": MAX_DATASETS}]


async def test_a_range_too_wide_to_count_is_refused_not_crashed():
    """Refused by the contract's limit on a range, with the planner's own reason, before any count."""
    huge = {**SPEC, "strategies": [{"name": "x", "grid": {"a": {"start": 0, "stop": 1e308, "step": 1e-300}}}]}
    body = payload(huge)
    async with asgi_client(fake_app()) as c:
        response = await c.post(URL, content=body, headers=signed(body))
    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["type"].endswith("invalid-sweep")
    assert problem["errors"] == [
        {
            "loc": ["data", "strategies", 0, "grid", "a"],
            "msg": "range 0:1e+308:1e-300 has more than 100000 values",
            "type": "range_too_long",
        }
    ]


async def test_body_over_the_cap_is_413_even_when_chunked():
    body = payload()

    async def chunks():
        yield body[:50]
        yield body[50:]

    async with asgi_client(fake_app(ingest_max_body_bytes=60)) as c:
        response = await c.post(URL, content=chunks(), headers=signed(body))
    assert response.status_code == 413
    assert "60 bytes" in problem_of(response)["detail"]


async def test_a_declared_length_over_the_cap_is_413_without_reading():
    body = payload()
    async with asgi_client(fake_app(ingest_max_body_bytes=60)) as c:
        response = await c.post(URL, content=body, headers=signed(body))
    assert response.status_code == 413


async def test_rate_limit_is_429_with_retry_after_and_publishes_nothing():
    publisher = FakeEventPublisher()
    app = fake_app(publisher, ingest_rate_per_second=0.5, ingest_rate_burst=2)
    async with asgi_client(app) as c:
        answers = []
        for n in range(3):
            body = payload()
            answers.append(await c.post(URL, content=body, headers=signed(body, webhook_id=f"m{n}")))
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2].headers["retry-after"] == "2"
    assert problem_of(answers[2])["retry_after"] == 2
    assert len(publisher.published) == 4


async def test_broker_down_is_503_with_retry_after_and_the_retry_publishes():
    publisher = FakeEventPublisher(fail=True)
    dedupe = FakeDedupeStore()
    body = payload()
    async with asgi_client(fake_app(publisher, dedupe=dedupe)) as c:
        response = await c.post(URL, content=body, headers=signed(body))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        problem_of(response)
        publisher.fail = False
        retried = await c.post(URL, content=body, headers=signed(body))
    assert retried.status_code == 202
    assert retried.json()["status"] == "accepted"
    assert len(publisher.of(SWEEPS_REQUESTED)) == 1


async def test_a_slow_broker_is_503_in_bounded_time_and_the_late_ack_makes_the_retry_a_duplicate():
    publisher = FakeEventPublisher()
    publisher.delay_s = 1.0
    body = payload()
    async with asgi_client(fake_app(publisher, ingest_publish_timeout_s=0.2)) as c:
        started = time.monotonic()
        response = await c.post(URL, content=body, headers=signed(body))
        assert response.status_code == 503
        assert time.monotonic() - started < 0.9
        meanwhile = await c.post(URL, content=body, headers=signed(body))
        assert meanwhile.status_code == 409
        assert problem_of(meanwhile)["type"].endswith("delivery-in-progress")
        assert int(meanwhile.headers["retry-after"]) >= 1
        await _until(lambda: len(publisher.published) == 2)
        publisher.delay_s = 0
        retried = await c.post(URL, content=body, headers=signed(body))
    assert retried.status_code == 202
    assert retried.json()["status"] == "duplicate"
    assert len(publisher.of(SWEEPS_REQUESTED)) == 1


async def test_not_connected_is_503_and_not_ready_but_alive():
    publisher = FakeEventPublisher(connected=False)
    body = payload()
    async with asgi_client(fake_app(publisher)) as c:
        response = await c.post(URL, content=body, headers=signed(body))
        assert (await c.get("/healthz")).status_code == 200
        ready = await c.get("/readyz")
    assert response.status_code == 503
    assert problem_of(response)["type"].endswith("broker-unavailable")
    assert ready.status_code == 503
    assert "publisher" in problem_of(ready)["detail"]


async def test_unknown_routes_and_methods_are_problems():
    async with asgi_client(fake_app()) as c:
        missing = await c.get("/nowhere")
        wrong = await c.get(URL)
    assert missing.status_code == 404
    problem_of(missing)
    assert wrong.status_code == 405
    problem_of(wrong)
    assert wrong.headers["allow"] == "POST"


async def _until(condition, timeout_s: float = 5.0) -> None:
    import asyncio

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_events_equal_their_validated_twins():
    """Ingest builds its events without re-validating them; they must be what the contracts build."""
    from datetime import UTC, datetime

    from zixly_contracts.envelope import decode, encode, envelope
    from zixly_contracts.sweep_spec import SweepSpec
    from zixly_ingest.config import Settings
    from zixly_ingest.domain.model import EVENT_SOURCE, events_for

    source = Settings(_env_file=None, webhook_secrets={SOURCE: [OLD_SECRET]}).sources()[SOURCE]
    at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    headers = [("webhook-id", "m"), ("content-type", "application/json"), ("x-other", "dropped")]
    built = events_for(
        source=source,
        webhook_id="m",
        body="{}",
        headers=headers,
        spec=SweepSpec.model_validate(SPEC),
        received_at=at,
    )
    received = envelope(
        WebhookReceived(
            webhook_id="m",
            source=SOURCE,
            received_at=at,
            body="{}",
            headers={"webhook-id": "m", "content-type": "application/json"},
        ),
        id=built.received.id,
        source=EVENT_SOURCE,
        subject=built.sweep_id,
        correlation_id="m",
        time=at,
    )
    requested = envelope(
        SweepRequested(
            sweep_id=built.sweep_id, source=SOURCE, webhook_id="m", spec=SweepSpec.model_validate(SPEC)
        ),
        id=built.requested.id,
        source=EVENT_SOURCE,
        subject=built.sweep_id,
        correlation_id="m",
        causation_id=received.id,
        time=at,
    )
    assert encode(built.received) == encode(received)
    assert encode(built.requested) == encode(requested)
    assert decode(encode(built.requested)) == requested
