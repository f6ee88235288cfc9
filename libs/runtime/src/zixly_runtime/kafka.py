"""Publishing CloudEvents envelopes through FastStream's Kafka broker, acks=all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker

from zixly_contracts.envelope import CONTENT_TYPE, Envelope, encode


def make_broker(
    bootstrap_servers: str,
    *,
    enable_idempotence: bool,
    client_id: str,
    graceful_timeout_s: float = 15.0,
    middlewares: Sequence[Any] = (),
) -> KafkaBroker:
    """A broker whose producer waits for every in-sync replica; a send fails after its request timeout."""
    return KafkaBroker(
        bootstrap_servers,
        acks="all",
        enable_idempotence=enable_idempotence,
        request_timeout_ms=10_000,
        client_id=client_id,
        graceful_timeout=graceful_timeout_s,
        middlewares=tuple(middlewares),
    )


class KafkaEventPublisher:
    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(self, topic: str, event: Envelope[Any], key: str) -> None:
        await self._broker.publish(
            encode(event), topic, key=key.encode(), headers={"content-type": CONTENT_TYPE}
        )
