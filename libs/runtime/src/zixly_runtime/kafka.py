"""Publishing CloudEvents envelopes through FastStream's Kafka broker, acks=all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from faststream.exceptions import IncorrectState
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
    """Publishes envelopes and returns once the broker acknowledged them.

    ``documented`` maps the topics this service publishes to the message model it puts there: each gets
    a FastStream publisher, so that the service's AsyncAPI document lists what it publishes.
    """

    def __init__(self, broker: KafkaBroker, documented: Mapping[str, Any] | None = None) -> None:
        self._broker = broker
        self._publishers = {
            topic: broker.publisher(
                topic, title=f"{topic}:publish", schema=model, description=_describe(model)
            )
            for topic, model in (documented or {}).items()
        }
        self._partition_counts: dict[str, int] = {}

    async def publish(self, topic: str, event: Envelope[Any], key: str, *, slot: int | None = None) -> None:
        """``slot`` places the event on partition ``slot mod partitions``; without it the key's hash does."""
        headers = {"content-type": CONTENT_TYPE}
        partition = None
        if slot is not None:
            count = await self.partition_count(topic)
            partition = None if count is None else slot % count
        publisher = self._publishers.get(topic)
        if publisher is not None:
            await publisher.publish(encode(event), key=key.encode(), partition=partition, headers=headers)
        else:
            await self._broker.publish(
                encode(event), topic, key=key.encode(), partition=partition, headers=headers
            )

    async def partition_count(self, topic: str) -> int | None:
        """The topic's partitions, asked once from the broker; None under FastStream's in-memory broker."""
        if topic not in self._partition_counts:
            try:
                admin = self._broker.config.admin_client
            except IncorrectState:
                return None
            described = await admin.describe_topics([topic])
            self._partition_counts[topic] = len(described[0]["partitions"])
        return self._partition_counts[topic]


def _describe(model: Any) -> str:
    return f"CloudEvents structured JSON ({CONTENT_TYPE}): {getattr(model, '__name__', model)}"
