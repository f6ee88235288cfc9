"""Exactly one event per webhook id, with the real Kafka protocol (Tansu) and a real PostgreSQL: over
hours of redeliveries, across restarts, across replicas, and for a big body."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from ingest_testkit import (
    SOURCE,
    SPEC,
    Clock,
    correlated,
    events_on,
    new_id,
    payload,
    serving,
    settings,
    signed,
)

from zixly_contracts import ids
from zixly_contracts.topics import SWEEPS_REQUESTED, WEBHOOKS_RECEIVED
from zixly_ingest.bootstrap import Overrides, build

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
URL = f"/webhooks/{SOURCE}"


def real_app(kafka_bootstrap: str, database_url: str, clock: Clock | None = None, **values):
    return build(
        settings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url, **values),
        Overrides(clock=clock),
    )


async def until_ready(client: httpx.AsyncClient, timeout_s: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (await client.get("/readyz")).status_code != 200:
        assert asyncio.get_running_loop().time() < deadline, (await client.get("/readyz")).text
        await asyncio.sleep(0.1)


async def test_46_redeliveries_over_29_hours_across_restarts_and_replicas_are_one_event(
    kafka_bootstrap: str, database_url: str
) -> None:
    clock = Clock()
    webhook_id = new_id()
    body = payload()
    step = 29 * 3600 / 45
    statuses = []
    async with serving(real_app(kafka_bootstrap, database_url, clock)) as replica_b:
        b = httpx.AsyncClient(base_url=replica_b, timeout=30)
        for life in range(2):  # replica A is restarted half-way: the record outlives the process
            async with (
                serving(real_app(kafka_bootstrap, database_url, clock)) as replica_a,
                httpx.AsyncClient(base_url=replica_a, timeout=30) as a,
            ):
                await until_ready(a)
                await until_ready(b)
                for n in range(23):
                    delivery = life * 23 + n
                    client = a if delivery % 2 == 0 else b
                    response = await client.post(
                        URL, content=body, headers=signed(body, webhook_id=webhook_id, at=clock.now)
                    )
                    statuses.append((response.status_code, response.json().get("status")))
                    clock.now += step
        await b.aclose()
    assert len(statuses) == 46
    assert statuses[0] == (202, "accepted")
    assert set(statuses[1:]) == {(202, "duplicate")}
    requested = correlated(await events_on(kafka_bootstrap, SWEEPS_REQUESTED), webhook_id)
    received = correlated(await events_on(kafka_bootstrap, WEBHOOKS_RECEIVED), webhook_id)
    assert len(requested) == 1
    assert len(received) == 1
    assert requested[0].subject == ids.sweep_id(SOURCE, webhook_id)


async def test_concurrent_deliveries_to_two_replicas_publish_once(kafka_bootstrap: str, database_url: str):
    webhook_id = new_id()
    body = payload()
    async with (
        serving(real_app(kafka_bootstrap, database_url)) as url_a,
        serving(real_app(kafka_bootstrap, database_url)) as url_b,
        httpx.AsyncClient(timeout=30) as client,
    ):
        for url in (url_a, url_b):
            async with httpx.AsyncClient(base_url=url) as probe:
                await until_ready(probe)
        answers = await asyncio.gather(
            *(
                client.post(url + URL, content=body, headers=signed(body, webhook_id=webhook_id))
                for url in [url_a, url_b] * 8
            )
        )
        codes = [a.status_code for a in answers]
        assert set(codes) <= {202, 409}, codes
        assert 202 in codes
        # Whoever got 409 retries, as a sender does, and then gets the same answer as everyone else.
        for _ in range(50):
            retry = await client.post(url_b + URL, content=body, headers=signed(body, webhook_id=webhook_id))
            if retry.status_code == 202:
                break
            await asyncio.sleep(0.1)
        assert retry.json()["status"] == "duplicate"
    assert len(correlated(await events_on(kafka_bootstrap, SWEEPS_REQUESTED), webhook_id)) == 1


async def test_a_1_mb_body_under_a_25_mb_cap_is_accepted_and_kept_verbatim(
    kafka_bootstrap: str, database_url: str
) -> None:
    webhook_id = new_id()
    document = json.dumps({"type": "sweep.requested", "data": SPEC})
    body = (document[:-1] + " " * 1_000_000 + "}").encode()
    assert len(body) > 1_000_000
    app = real_app(kafka_bootstrap, database_url, ingest_max_body_bytes=25_000_000)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        await until_ready(client)
        response = await client.post(URL, content=body, headers=signed(body, webhook_id=webhook_id))
    assert response.status_code == 202, response.text
    [received] = correlated(await events_on(kafka_bootstrap, WEBHOOKS_RECEIVED), webhook_id)
    assert received.data.body.encode() == body
    assert len(correlated(await events_on(kafka_bootstrap, SWEEPS_REQUESTED), webhook_id)) == 1


async def test_an_id_reused_for_another_body_is_409_across_replicas_and_restarts(
    kafka_bootstrap: str, database_url: str
) -> None:
    webhook_id = new_id()
    body = payload()
    other = payload({**SPEC, "name": "another sweep"})
    async with (
        serving(real_app(kafka_bootstrap, database_url)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        await until_ready(client)
        first = await client.post(URL, content=body, headers=signed(body, webhook_id=webhook_id))
    # Another replica, started afresh: only the record in PostgreSQL remembers the first body.
    async with (
        serving(real_app(kafka_bootstrap, database_url)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        await until_ready(client)
        reused = await client.post(URL, content=other, headers=signed(other, webhook_id=webhook_id))
        again = await client.post(URL, content=body, headers=signed(body, webhook_id=webhook_id))
    assert first.status_code == 202, first.text
    assert reused.status_code == 409, reused.text
    assert reused.headers["content-type"].startswith("application/problem+json")
    problem = reused.json()
    assert problem["type"].endswith("webhook-id-reused")
    assert "different body" in problem["detail"]
    assert "retry-after" not in reused.headers
    assert (again.status_code, again.json()["status"]) == (202, "duplicate")
    [requested] = correlated(await events_on(kafka_bootstrap, SWEEPS_REQUESTED), webhook_id)
    assert requested.data.spec.name == SPEC["name"]
    assert len(correlated(await events_on(kafka_bootstrap, WEBHOOKS_RECEIVED), webhook_id)) == 1
