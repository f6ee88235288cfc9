"""Publishing CloudEvents envelopes with aiokafka's producer, acks=all, in bounded time.

Ingest only produces, so it uses aiokafka's producer directly rather than a FastStream broker: a
broker's ``start()`` fails when Kafka is down, and ingest must start anyway (liveness does not depend
on Kafka), answer 503 while it cannot publish, and recover by itself. Here a supervisor task connects
in the background and retries with backoff until it succeeds; from then on aiokafka reconnects on its
own. Every wait is bounded: a send is handed over within the request timeout (metadata), a batch
expires after it (acks=all, no idempotence), and ``stop()`` is wrapped in a timeout — with
``enable_idempotence`` aiokafka retries a batch forever and its ``stop()`` can hang while the brokers
are down (aio-libs/aiokafka#1101).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from opentelemetry import propagate

from zixly_contracts.envelope import CONTENT_TYPE, encode
from zixly_ingest.domain.errors import BrokerUnavailable, EventTooLarge
from zixly_ingest.service_layer.ports import OutgoingEvent

log = structlog.get_logger("zixly_ingest.kafka")
_HEADERS = [("content-type", CONTENT_TYPE.encode())]


class KafkaEventPublisher:
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        enable_idempotence: bool,
        request_timeout_ms: int,
        max_request_size: int,
        compression_type: str | None,
        retry_after_s: int,
        client_id: str = "zixly-ingest",
    ) -> None:
        self._options = {
            "bootstrap_servers": bootstrap_servers,
            "acks": "all",
            "enable_idempotence": enable_idempotence,
            "request_timeout_ms": request_timeout_ms,
            "max_request_size": max_request_size,
            "compression_type": compression_type,
            "client_id": client_id,
            "retry_backoff_ms": 200,
            "linger_ms": 0,
        }
        self._request_timeout_s = request_timeout_ms / 1000
        self._retry_after_s = retry_after_s
        self._producer: AIOKafkaProducer | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; returns at once."""
        self._supervisor = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        delay = 0.25
        while True:
            producer = AIOKafkaProducer(**self._options)
            try:
                await asyncio.wait_for(producer.start(), timeout=self._request_timeout_s + 5)
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning("kafka.connect_failed", error=f"{type(exc).__name__}: {exc}", retry_in_s=delay)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), timeout=2)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._producer = producer
            log.info("kafka.connected", bootstrap_servers=self._options["bootstrap_servers"])
            return

    async def stop(self, timeout_s: float = 10.0) -> None:
        if self._supervisor is not None and not self._supervisor.done():
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        producer, self._producer = self._producer, None
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout_s)
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout=timeout_s)
            except (TimeoutError, KafkaError) as exc:
                log.warning("kafka.stop_incomplete", error=f"{type(exc).__name__}: {exc}")

    # --- the port ----------------------------------------------------------------------------------

    def available(self) -> bool:
        return self._producer is not None

    def publish(self, events: Sequence[OutgoingEvent]) -> asyncio.Task[None]:
        producer = self._producer
        if producer is None:
            raise BrokerUnavailable(
                "not connected to the Kafka cluster yet; retry after the Retry-After seconds",
                self._retry_after_s,
            )
        # The current trace (the webhook's request span) travels on in W3C trace-context headers.
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        headers = _HEADERS + [(name, value.encode()) for name, value in carrier.items()]
        task = asyncio.ensure_future(self._send_all(producer, events, headers))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def _send_all(
        self, producer: AIOKafkaProducer, events: Sequence[OutgoingEvent], headers: list[tuple[str, bytes]]
    ) -> None:
        acks: list[asyncio.Future[object]] = []
        try:
            for out in events:
                acks.append(
                    await producer.send(out.topic, encode(out.event), key=out.key.encode(), headers=headers)
                )
        except MessageSizeTooLargeError as exc:
            await asyncio.gather(*acks, return_exceptions=True)
            raise _too_large() from exc
        except KafkaError as exc:
            await asyncio.gather(*acks, return_exceptions=True)
            raise BrokerUnavailable(
                f"the broker did not take the event ({type(exc).__name__})", self._retry_after_s
            ) from exc
        results = await asyncio.gather(*acks, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if any(isinstance(r, MessageSizeTooLargeError) for r in failed):
            raise _too_large()
        if failed:
            raise BrokerUnavailable(
                f"the broker did not acknowledge every event ({type(failed[0]).__name__})",
                self._retry_after_s,
            )

    async def ping(self, timeout_s: float) -> bool:
        """Readiness: connected, and the cluster answers a metadata request in time."""
        producer = self._producer
        if producer is None:
            return False
        try:
            await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout=timeout_s)
        except (KafkaError, OSError, TimeoutError):
            return False
        return True


def _too_large() -> EventTooLarge:
    return EventTooLarge(
        "the events of this webhook are larger than the Kafka cluster accepts (message.max.bytes); "
        "send a smaller body"
    )
