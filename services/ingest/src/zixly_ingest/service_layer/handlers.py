"""The one use case of ingest: verify a webhook, turn it into events, publish them exactly once.

Order matters: the signature is checked over the raw bytes before anything parses them; nothing is
published for a rejected webhook; a webhook id is claimed in the dedupe store before publishing and
marked published only once the broker acknowledged (acks=all). A publish that failed releases the
claim, so the sender's retry publishes again; one whose outcome is not known yet (the broker is slow)
keeps the claim until it settles, so a retry meanwhile is told to come back instead of publishing twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from zixly_contracts.topics import SWEEPS_REQUESTED, WEBHOOKS_RECEIVED
from zixly_ingest.domain import model
from zixly_ingest.domain.errors import (
    BrokerUnavailable,
    DeliveryInProgress,
    RateLimited,
    TryLater,
    UnknownSource,
    WebhookIdReused,
)
from zixly_ingest.domain.model import Headers
from zixly_ingest.domain.ratelimit import TokenBucket, retry_after_seconds
from zixly_ingest.domain.sources import Source
from zixly_ingest.service_layer.ports import (
    AlreadyPublished,
    BodyMismatch,
    DedupeStore,
    EventPublisher,
    InProgress,
    OutgoingEvent,
    Owned,
    WebhookVerifier,
)

log = structlog.get_logger("zixly_ingest.intake")


@dataclass(frozen=True)
class Accepted:
    webhook_id: str
    sweep_id: str
    #: True when an earlier delivery of the same webhook id was already published.
    duplicate: bool = False


@dataclass(frozen=True)
class IgnoredWebhook:
    webhook_id: str
    payload_type: str


Outcome = Accepted | IgnoredWebhook


class Intake:
    """Receives webhooks from any way in (HTTP, SQS) with the same checks, dedupe and mapping."""

    def __init__(
        self,
        *,
        sources: Mapping[str, Source],
        verifier: WebhookVerifier,
        publisher: EventPublisher,
        dedupe: DedupeStore,
        dataset_bars: Mapping[str, int] | None = None,
        publish_timeout_s: float = 5.0,
        lease_s: float = 30.0,
        retry_after_s: int = 5,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sources = dict(sources)
        self._verifier = verifier
        self._publisher = publisher
        self._dedupe = dedupe
        self._dataset_bars = dict(dataset_bars or {})
        self._publish_timeout_s = publish_timeout_s
        self._lease_s = lease_s
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._monotonic = monotonic
        self._buckets = {
            name: TokenBucket(source.rate_per_second, source.rate_burst) for name, source in sources.items()
        }
        self._settling: set[asyncio.Task[None]] = set()

    @property
    def retry_after_s(self) -> int:
        return self._retry_after_s

    def can_publish(self) -> bool:
        """Whether the broker and the dedupe store are connected at all (no I/O)."""
        return self._publisher.available() and self._dedupe.available()

    def source(self, name: str) -> Source:
        found = self.sources.get(name)
        if found is None:
            raise UnknownSource(f"no webhook source named {name!r} is configured; check the URL")
        return found

    async def receive_webhook(
        self,
        *,
        source: str,
        raw_body: bytes,
        headers: Headers,
        enqueued_at: float | None = None,
        rate_limit: bool = True,
    ) -> Outcome:
        """Verify, validate, dedupe, publish; return once the broker acknowledged (or it is a duplicate).

        ``enqueued_at``: for a webhook relayed through a queue, when it entered the queue; the signed
        timestamp is checked against it instead of the clock (the queue may have held it for long).
        """
        src = self.source(source)
        now = self._clock()
        verified = self._verifier.verify(src, raw_body, headers, now if enqueued_at is None else enqueued_at)
        if rate_limit:
            wait = self._buckets[src.name].take(self._monotonic())
            if wait > 0:
                raise RateLimited(
                    f"source {src.name!r} may send {src.rate_per_second:g} webhooks per second "
                    f"(bursts of {src.rate_burst}); retry after the Retry-After seconds",
                    retry_after_seconds(wait),
                )
        asked = model.interpret(src, verified.body, verified.type_from_header)
        if isinstance(asked, model.Ignored):
            log.info(
                "webhook.ignored", source=src.name, webhook_id=verified.webhook_id, type=asked.payload_type
            )
            return IgnoredWebhook(verified.webhook_id, asked.payload_type)
        model.check_limits(src, asked.spec, self._dataset_bars)
        accepted = model.events_for(
            source=src,
            webhook_id=verified.webhook_id,
            body=verified.body,
            headers=headers,
            spec=asked.spec,
            received_at=datetime.fromtimestamp(now, UTC),
        )
        if not self._publisher.available():
            raise BrokerUnavailable(
                "the Kafka cluster is not reachable right now; retry after the Retry-After seconds",
                self._retry_after_s,
            )
        claim = await self._dedupe.claim(
            src.name, verified.webhook_id, hashlib.sha256(raw_body).digest(), self._lease_s
        )
        if isinstance(claim, AlreadyPublished):
            log.info("webhook.duplicate", source=src.name, webhook_id=verified.webhook_id)
            return Accepted(verified.webhook_id, accepted.sweep_id, duplicate=True)
        if isinstance(claim, InProgress):
            raise DeliveryInProgress(
                f"another delivery of webhook {verified.webhook_id!r} is being published right now; "
                "retry after the Retry-After seconds",
                retry_after_seconds(min(claim.retry_after_s, self._retry_after_s)),
            )
        if isinstance(claim, BodyMismatch):
            raise WebhookIdReused(
                f"webhook id {verified.webhook_id!r} was already accepted with a different body; "
                "give every new webhook a new id"
            )
        await self._publish(src.name, verified.webhook_id, claim, accepted)
        log.info(
            "webhook.accepted", source=src.name, webhook_id=verified.webhook_id, sweep_id=accepted.sweep_id
        )
        return Accepted(verified.webhook_id, accepted.sweep_id)

    async def _publish(
        self, source: str, webhook_id: str, claim: Owned, accepted: model.AcceptedWebhook
    ) -> None:
        events = [
            OutgoingEvent(WEBHOOKS_RECEIVED, webhook_id, accepted.received),
            OutgoingEvent(SWEEPS_REQUESTED, accepted.sweep_id, accepted.requested),
        ]
        try:
            ack = asyncio.ensure_future(self._publisher.publish(events))
        except TryLater:
            await self._release(source, webhook_id, claim)
            raise
        try:
            done, _ = await asyncio.wait((ack,), timeout=self._publish_timeout_s)
        except asyncio.CancelledError:
            self._settle_later(source, webhook_id, claim, ack)
            raise
        if not done:
            # Still in flight: keep the claim until the broker answers one way or the other.
            self._settle_later(source, webhook_id, claim, ack)
            raise BrokerUnavailable(
                f"the broker did not acknowledge within {self._publish_timeout_s:g} s; "
                "retry after the Retry-After seconds",
                self._retry_after_s,
            )
        if ack.exception() is not None:
            await self._release(source, webhook_id, claim)
            raise ack.exception()  # type: ignore[misc]
        await self._mark(source, webhook_id, claim)

    def _settle_later(self, source: str, webhook_id: str, claim: Owned, ack: asyncio.Future[None]) -> None:
        async def settle() -> None:
            try:
                await ack
            except Exception:
                await self._release(source, webhook_id, claim)
            else:
                await self._mark(source, webhook_id, claim)
                log.info("webhook.published_late", source=source, webhook_id=webhook_id)

        task = asyncio.ensure_future(settle())
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _mark(self, source: str, webhook_id: str, claim: Owned) -> None:
        try:
            await self._dedupe.mark_published(source, webhook_id, claim.token)
        except TryLater as exc:
            # The events are durable in Kafka; only the dedupe record lags. Its lease expires, and a
            # later redelivery republishes under the same event ids, which every consumer absorbs.
            log.warning("dedupe.mark_failed", source=source, webhook_id=webhook_id, error=str(exc))

    async def _release(self, source: str, webhook_id: str, claim: Owned) -> None:
        try:
            await self._dedupe.release(source, webhook_id, claim.token)
        except TryLater as exc:
            log.warning("dedupe.release_failed", source=source, webhook_id=webhook_id, error=str(exc))

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) for publishes still in flight to settle, so their claims are resolved."""
        if self._settling:
            await asyncio.wait(set(self._settling), timeout=timeout_s)
