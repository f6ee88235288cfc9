"""Publishing CloudEvents envelopes through FastStream's Kafka broker, acks=all."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker

from zixly_contracts.envelope import CONTENT_TYPE, Envelope, encode


def make_broker(bootstrap_servers: str, *, enable_idempotence: bool, client_id: str) -> KafkaBroker:
    return KafkaBroker(
        bootstrap_servers,
        acks="all",
        enable_idempotence=enable_idempotence,
        request_timeout_ms=10_000,
        client_id=client_id,
        graceful_timeout=15.0,
    )


class KafkaEventPublisher:
    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(self, topic: str, event: Envelope[Any], key: str) -> None:
        await self._broker.publish(
            encode(event), topic, key=key.encode(), headers={"content-type": CONTENT_TYPE}
        )
