"""SQS as a second way in: webhooks a relay (API Gateway, a forwarder) put on a queue.

Each message is one webhook: its body is the raw webhook body (or its base64, with the message
attribute ``body-encoding: base64``, for bytes a queue cannot carry as text), its message attributes are
the webhook's HTTP headers (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``, …). One queue
serves one configured source. The message goes through the same verification, limits, mapping and
dedupe as an HTTP request; the signed timestamp is checked against the time the message was enqueued,
since the point of the queue is to hold webhooks for a while.

A message is deleted only once its events are published (or it was a duplicate of published ones, or a
payload type the source ignores). A refused one (bad signature, invalid sweep) is left alone, so the
queue's redrive policy moves it to its dead-letter queue after ``maxReceiveCount`` receives: give every
such queue one. A transient failure (broker, database) makes the message visible again after a delay
growing with its receive count, and the consumer stops receiving while the broker or the dedupe store
is down, so an outage does not use up the receives of good messages (keep ``maxReceiveCount`` well
above a handful all the same). Relayed webhooks are not rate-limited: the consumer pulls at its own pace.
"""

from __future__ import annotations

import asyncio
import base64
import binascii

import structlog

from zixly_ingest.domain.errors import (
    BodyTooLarge,
    DeliveryInProgress,
    MalformedRequest,
    Rejected,
    TryLater,
)
from zixly_ingest.service_layer.handlers import Intake, Outcome
from zixly_ingest.service_layer.ports import MessageQueue, QueuedMessage

log = structlog.get_logger("zixly_ingest.sqs")

BODY_ENCODING = "body-encoding"
MAX_VISIBILITY_DELAY_S = 900


def raw_body_of(message: QueuedMessage) -> bytes:
    encoding = message.attributes.get(BODY_ENCODING, "").lower()
    if encoding == "base64":
        try:
            return base64.b64decode(message.body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedRequest(
                "the message says body-encoding base64, but its body is not base64"
            ) from None
    if encoding:
        raise MalformedRequest(f"unknown body-encoding {encoding!r} (only 'base64')")
    return message.body.encode("utf-8")


async def _receive(intake: Intake, source: str, message: QueuedMessage) -> Outcome:
    raw = raw_body_of(message)
    limit = intake.source(source).limits.max_body_bytes
    if len(raw) > limit:
        raise BodyTooLarge(limit)
    headers = [(name, value) for name, value in message.attributes.items() if name != BODY_ENCODING]
    for pause in (0.2, 0.5, 1.0):
        try:
            return await intake.receive_webhook(
                source=source, raw_body=raw, headers=headers, enqueued_at=message.sent_at, rate_limit=False
            )
        except DeliveryInProgress:
            # Most often a redelivery in the same batch as the original: it settles within moments.
            await asyncio.sleep(pause)
    return await intake.receive_webhook(
        source=source, raw_body=raw, headers=headers, enqueued_at=message.sent_at, rate_limit=False
    )


async def handle_message(
    intake: Intake, source: str, message: QueuedMessage, queue: MessageQueue
) -> bool | None:
    """Process one message: True when it may be deleted, False when refused, None when to retry later."""
    context = {"source": source, "queue": queue.url, "message_id": message.message_id}
    try:
        outcome = await _receive(intake, source, message)
    except Rejected as exc:
        log.warning(
            "sqs.rejected",
            **context,
            reason=type(exc).__name__,
            detail=str(exc),
            receive_count=message.receive_count,
        )
        return False
    except TryLater as exc:
        delay = min(exc.retry_after_s * max(1, message.receive_count), MAX_VISIBILITY_DELAY_S)
        log.warning("sqs.retry_later", **context, reason=type(exc).__name__, delay_s=delay)
        try:
            await queue.retry_later(message, delay)
        except Exception as change_error:
            log.warning("sqs.visibility_failed", **context, error=f"{type(change_error).__name__}")
        return None
    log.info("sqs.received", **context, webhook_id=outcome.webhook_id)
    return True


async def consume_queue(
    intake: Intake, source: str, queue: MessageQueue, *, wait_s: int = 20, batch: int = 10
) -> None:
    """Receive, process and delete forever (until cancelled); survives SQS outages with backoff."""
    delay = 1.0
    while True:
        if not intake.can_publish():
            # Receiving now would only use up receives (and send good messages to the dead letters).
            await asyncio.sleep(0.5)
            continue
        try:
            messages = await queue.receive(batch, wait_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("sqs.receive_failed", queue=queue.url, error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
            continue
        delay = 1.0
        if not messages:
            continue
        results = await asyncio.gather(
            *(handle_message(intake, source, m, queue) for m in messages), return_exceptions=True
        )
        done: list[bool | None] = []
        for message, result in zip(messages, results, strict=True):
            if isinstance(result, BaseException):
                log.error("sqs.failed", queue=queue.url, message_id=message.message_id, exc_info=result)
                done.append(None)
            else:
                done.append(result)
        published = [m for m, ok in zip(messages, done, strict=True) if ok is True]
        try:
            await queue.delete(published)
        except Exception as exc:
            # They come back after the visibility timeout and are absorbed as duplicates.
            log.warning("sqs.delete_failed", queue=queue.url, error=f"{type(exc).__name__}: {exc}")
        if any(ok is None for ok in done):
            await asyncio.sleep(intake.retry_after_s)  # the broker or the database is in trouble: back off
