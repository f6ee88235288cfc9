"""What the ingest tests share: signing, fakes of the ports, the app served by a real uvicorn, and a
reader that counts the events on a topic."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI
from standardwebhooks.webhooks import Webhook

from zixly.infrastructure import free_port
from zixly_contracts.envelope import Envelope, decode
from zixly_ingest.bootstrap import Overrides, build
from zixly_ingest.config import Settings
from zixly_ingest.domain.errors import BrokerUnavailable
from zixly_ingest.service_layer.ports import (
    AlreadyPublished,
    BodyMismatch,
    ClaimResult,
    InProgress,
    OutgoingEvent,
    Owned,
)

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
SOURCE = "trading-api"
SPEC: dict[str, Any] = {
    "name": "unit",
    "datasets": [{"symbol": "GOOG_1d", "periods_per_year": 252}],
    "strategies": [{"name": "sma_cross", "grid": {"fast": [10], "slow": [20]}}],
}


def new_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def payload(spec: dict[str, Any] | None = None, **extra: Any) -> bytes:
    return json.dumps({"type": "sweep.requested", "data": spec or SPEC, **extra}).encode()


def signed(
    body: bytes,
    *,
    secret: str = SECRET,
    webhook_id: str = "msg_1",
    at: float | datetime | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    """Standard Webhooks headers for ``body`` (HMAC over the exact bytes, as a sender computes it)."""
    when = at if at is not None else time.time()
    seconds = int(when.timestamp()) if isinstance(when, datetime) else int(when)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{webhook_id}.{seconds}.".encode() + body, hashlib.sha256).digest()
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }
    if content_type:
        headers["content-type"] = content_type
    return headers


def library_signed(body: str, *, secret: str = SECRET, webhook_id: str, at: float) -> str:
    """The signature the reference library computes (an oracle for ``signed``)."""
    return Webhook(secret).sign(webhook_id, datetime.fromtimestamp(int(at), UTC), body)


class Clock:
    """The receiver's clock, settable (epoch seconds)."""

    def __init__(self, now: float | None = None) -> None:
        self.now = float(int(now if now is not None else time.time()))

    def __call__(self) -> float:
        return self.now


class FakeEventPublisher:
    def __init__(self, *, fail: bool = False, connected: bool = True) -> None:
        self.published: list[OutgoingEvent] = []
        self.fail = fail
        self.connected = connected
        self.delay_s = 0.0

    def available(self) -> bool:
        return self.connected

    def publish(self, events: Sequence[OutgoingEvent]) -> asyncio.Future[None]:
        async def send() -> None:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.fail:
                raise BrokerUnavailable("the broker did not acknowledge", 5)
            self.published.extend(events)

        return asyncio.ensure_future(send())

    def of(self, topic: str) -> list[Envelope[Any]]:
        return [out.event for out in self.published if out.topic == topic]


@dataclass
class _Row:
    digest: bytes
    token: str
    lease_until: float
    published: bool = False


@dataclass
class FakeDedupeStore:
    """The dedupe store's semantics in memory (claims with leases), for tests that need no PostgreSQL."""

    rows: dict[tuple[str, str], _Row] = field(default_factory=dict)

    def available(self) -> bool:
        return True

    async def claim(self, source: str, webhook_id: str, body_sha256: bytes, lease_s: float) -> ClaimResult:
        now = time.monotonic()
        row = self.rows.get((source, webhook_id))
        if row is not None and row.digest != body_sha256:
            return BodyMismatch()
        if row is not None and row.published:
            return AlreadyPublished()
        if row is not None and row.lease_until > now:
            return InProgress(row.lease_until - now)
        token = uuid.uuid4().hex
        self.rows[(source, webhook_id)] = _Row(body_sha256, token, now + lease_s)
        return Owned(token)

    async def mark_published(self, source: str, webhook_id: str, token: str) -> None:
        row = self.rows.get((source, webhook_id))
        if row is not None and row.token == token:
            row.published = True

    async def release(self, source: str, webhook_id: str, token: str) -> None:
        row = self.rows.get((source, webhook_id))
        if row is not None and row.token == token and not row.published:
            del self.rows[(source, webhook_id)]


def settings(**values: Any) -> Settings:
    """Settings from keyword arguments (the ``ZIXLY_`` names without the prefix, lower case)."""
    values.setdefault("webhook_secrets", {SOURCE: [SECRET, OLD_SECRET]})
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def fake_app(
    publisher: FakeEventPublisher | None = None,
    *,
    dedupe: FakeDedupeStore | None = None,
    clock: Clock | None = None,
    **values: Any,
) -> FastAPI:
    overrides = Overrides(
        publisher=publisher or FakeEventPublisher(), dedupe=dedupe or FakeDedupeStore(), clock=clock
    )
    return build(settings(**values), overrides)


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` with a real uvicorn on a free loopback port (lifespan included); yield its URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on", loop="asyncio"
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped during start-up (see the log above)")
        if time.monotonic() > deadline:
            raise TimeoutError("uvicorn did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


async def events_on(bootstrap: str, topic: str) -> list[Envelope[Any]]:
    """Every event on ``topic``, from the start to the current end of each partition."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=10_000
    )
    await consumer.start()
    try:
        await consumer.topics()  # fetches the cluster metadata
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        assert partitions, f"no topic {topic}"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        events: list[Envelope[Any]] = []
        deadline = time.monotonic() + 30

        async def behind() -> bool:
            for tp in partitions:
                if await consumer.position(tp) < ends[tp]:
                    return True
            return False

        while await behind():
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end")
            batches = await consumer.getmany(timeout_ms=500)
            events += [decode(m.value) for msgs in batches.values() for m in msgs]
        return events
    finally:
        await consumer.stop()


def correlated(events: list[Envelope[Any]], webhook_id: str) -> list[Envelope[Any]]:
    return [e for e in events if e.correlation_id == webhook_id]


@asynccontextmanager
async def asgi_client(app: FastAPI) -> AsyncIterator[Any]:
    """An httpx client calling ``app`` in-process (no sockets), with its lifespan run around it."""
    import httpx

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            yield client


@asynccontextmanager
async def http_client(app: FastAPI) -> AsyncIterator[Any]:
    """An httpx client against ``app`` served by a real uvicorn on loopback."""
    import httpx

    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield client


class TcpProxy:
    """A loopback TCP proxy in front of the broker, to cut it off or slow it down at will."""

    def __init__(self, port: int, target_port: int) -> None:
        self.port = port
        self.target_port = target_port
        self.delay_s = 0.0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def down(self) -> None:
        """Refuse new connections and break the open ones: the broker is unreachable."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, broker_writer}

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    if self.delay_s:
                        await asyncio.sleep(self.delay_s)
                    writer.write(data)
                    await writer.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                writer.transport.abort()
                self._writers.discard(writer)

        await asyncio.gather(pump(client_reader, broker_writer), pump(broker_reader, client_writer))


@contextmanager
def serving_in_thread(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread of its own (for synchronous tests: hypothesis, schemathesis)."""
    import threading

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def problem_of(response: Any, status: int | None = None, slug: str | None = None) -> dict[str, Any]:
    """The RFC 9457 problem a response carries, checked for its shape (and ``status``/``slug`` if given)."""
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == response.status_code
    assert body["type"].startswith("https://zixly.dev/problems/")
    if slug is not None:
        assert body["type"] == f"https://zixly.dev/problems/{slug}"
    assert body["title"]
    assert body["detail"]
    return body
