"""Publishing CloudEvents envelopes through FastStream's Kafka broker, acks=all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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

    async def publish(self, topic: str, event: Envelope[Any], key: str) -> None:
        headers = {"content-type": CONTENT_TYPE}
        publisher = self._publishers.get(topic)
        if publisher is not None:
            await publisher.publish(encode(event), key=key.encode(), headers=headers)
        else:
            await self._broker.publish(encode(event), topic, key=key.encode(), headers=headers)


def _describe(model: Any) -> str:
    return f"CloudEvents structured JSON ({CONTENT_TYPE}): {getattr(model, '__name__', model)}"
