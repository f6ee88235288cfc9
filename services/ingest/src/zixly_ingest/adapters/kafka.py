"""Publishing CloudEvents envelopes through FastStream's Kafka broker, acks=all."""

from __future__ import annotations

import asyncio
from typing import Any

from faststream.kafka import KafkaBroker

from zixly_contracts.envelope import CONTENT_TYPE, Envelope, encode
from zixly_ingest.domain.errors import BrokerUnavailable


def make_broker(bootstrap_servers: str, *, enable_idempotence: bool) -> KafkaBroker:
    return KafkaBroker(
        bootstrap_servers,
        acks="all",
        enable_idempotence=enable_idempotence,
        request_timeout_ms=10_000,
        client_id="zixly-ingest",
    )


class KafkaEventPublisher:
    def __init__(self, broker: KafkaBroker, timeout_s: float) -> None:
        self._broker = broker
        self._timeout_s = timeout_s

    async def publish(self, topic: str, event: Envelope[Any], key: str) -> None:
        try:
            await asyncio.wait_for(
                self._broker.publish(
                    encode(event), topic, key=key.encode(), headers={"content-type": CONTENT_TYPE}
                ),
                timeout=self._timeout_s,
            )
        except Exception as exc:
            raise BrokerUnavailable(f"the broker did not acknowledge {topic}: {type(exc).__name__}") from exc
