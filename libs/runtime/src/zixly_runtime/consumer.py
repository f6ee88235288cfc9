"""FastStream subscribers: a thin shell that decodes, calls a use case and commits only afterwards.

- Offsets are committed by hand, only after the use case's output was acknowledged by the broker.
- A message that cannot be decoded is poison: it goes to the topic's ``.dlq`` with error headers at once.
- Any other error is transient: the message is not committed and is fetched again after a pause, so
  nothing accepted is ever dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from faststream import AckPolicy
from faststream.asgi import AsgiResponse, get
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.subscriber.usecase import LogicSubscriber

from zixly_contracts.envelope import CONTENT_TYPE, Envelope, UndecodableMessage, decode
from zixly_contracts.topics import dead_letter_topic

log = structlog.get_logger(__name__)
Handler = Callable[[Envelope[Any]], Awaitable[object]]
RETRY_PAUSE_S = 2.0


def subscribe(
    broker: KafkaBroker, *topics: str, group_id: str, handler: Handler, expected: tuple[type, ...]
) -> LogicSubscriber[Any]:
    """One consumer (one group member) for ``topics``; returns it so readiness can see its assignment."""
    subscriber = broker.subscriber(
        *topics,
        group_id=group_id,
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        max_poll_records=1,
        title=f"{group_id}:{','.join(topics)}",
    )

    @subscriber
    async def consume(msg: KafkaMessage) -> None:
        raw = msg.raw_message
        where = {"topic": raw.topic, "partition": raw.partition, "offset": raw.offset}  # type: ignore[union-attr]
        try:
            event = decode(msg.body)
            if not isinstance(event.data, expected):
                raise UndecodableMessage(f"{event.type} does not belong on {raw.topic}")  # type: ignore[union-attr]
        except UndecodableMessage as exc:
            await dead_letter(broker, msg.body, where, exc)
            await msg.ack()
            return
        try:
            with structlog.contextvars.bound_contextvars(
                event_id=event.id,
                event_type=event.type,
                correlation_id=event.correlation_id,
                subject=event.subject,
            ):
                await handler(event)
        except Exception:
            log.exception("handler failed; the message will be redelivered", **where)
            await asyncio.sleep(RETRY_PAUSE_S)
            await msg.nack()
            return
        await msg.ack()

    return subscriber


def readiness(broker: KafkaBroker, subscribers: list[LogicSubscriber[Any]]) -> Any:
    """Ready once the broker answers and every consumer has joined its group and holds partitions."""

    @get
    async def ready(scope: object) -> AsgiResponse:
        joined = all(s.consumer is not None and s.consumer.assignment() for s in subscribers)  # type: ignore[attr-defined]
        if joined and await broker.ping(timeout=2.0):
            return AsgiResponse(b"ready", status_code=200)
        return AsgiResponse(b"not ready: broker unreachable or partitions not assigned yet", status_code=503)

    return ready


async def dead_letter(broker: KafkaBroker, body: bytes, where: dict[str, Any], error: Exception) -> None:
    log.error("poison message sent to the dead-letter topic", error=str(error), **where)
    await broker.publish(
        body,
        dead_letter_topic(str(where["topic"])),
        headers={
            "content-type": CONTENT_TYPE,
            "x-original-topic": str(where["topic"]),
            "x-original-partition": str(where["partition"]),
            "x-original-offset": str(where["offset"]),
            "x-attempts": "1",
            "x-error-class": type(error).__name__,
            "x-error-message": str(error)[:2000],
        },
    )
