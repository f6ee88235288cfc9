"""The consumer shell: FastStream subscribers run by a small runtime that owns every acknowledgement.

FastStream's ack policies are not used (AckPolicy.MANUAL, and this module commits explicit offsets of
partitions still assigned: faststream #2618, aiokafka #929). For each message:

- **poison** (not a CloudEvents envelope of a known type and version, or not meant for this topic) goes
  to ``<topic>.dlq`` at once, with the failure headers of ``zixly_contracts.failures``;
- the **use case** runs; on success the offset is committed, which happens only after its output was
  acknowledged by the broker (the use cases publish with acks=all and return afterwards);
- any **other error** is transient: the message goes to ``<topic>.retry`` with its attempt count and
  the time of its next attempt (exponential backoff), and the offset moves on. The same runtime consumes
  the retry topic: a message that is not due yet is not slept on; its partition is *paused* and sought
  back until then, while the poll loop goes on. After the last attempt the message goes to the DLQ;
- if even the retry or DLQ publish fails (the broker is down), nothing is committed: the partition is
  paused and sought back for a while, and the message is tried again later (no hot loop, nothing lost).

A use case may run as a *background* task (the backtester's tasks). The handler waits for it a little
(``inline_wait_s``, at most a quarter of the poll interval); a task still running then goes on with
every assigned partition paused while the poll loop keeps calling the broker, so a task longer than
``max_poll_interval_ms`` never makes the member leave the group (aiokafka #848; KAFKA-NOTES B.7 b).
Tasks are bounded by ``task_timeout_s``.

Shutdown (SIGTERM): stop fetching (pause everything), let the in-flight task finish within the grace
period or abandon it (it is redelivered), commit, then stop the consumers (leaving the group) and the
producer, each under a timeout (aiokafka #773, #1101; faststream #923).

A watchdog reports a consumer that holds lag on partitions it is not pausing but makes no progress
(aiokafka #1037): a log line, a gauge, and a failing liveness probe. Liveness never asks Kafka; the
watchdog only judges when the broker answered.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import ConsumerRebalanceListener, TopicPartition
from faststream import AckPolicy
from faststream.asgi import AsgiResponse, get
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.subscriber.usecase import LogicSubscriber
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import ValidationError

from zixly_contracts import failures
from zixly_contracts.envelope import CONTENT_TYPE, Envelope, UndecodableMessage, decode
from zixly_contracts.failures import Failure
from zixly_contracts.topics import dead_letter_topic, retry_topic

log = structlog.get_logger(__name__)
Handler = Callable[[Envelope[Any]], Awaitable[object]]
#: Errors that retrying can never fix: the message goes to the DLQ at once.
POISON: tuple[type[BaseException], ...] = (UndecodableMessage, ValidationError)


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` in total (the first delivery included); backoff doubles up to a ceiling."""

    max_attempts: int = 6
    initial_backoff_s: float = 1.0
    multiplier: float = 2.0
    max_backoff_s: float = 60.0

    def backoff_s(self, attempts: int) -> float:
        return float(min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** (attempts - 1)))


@dataclass(frozen=True)
class ConsumerOptions:
    group_id: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: run the use case as a task with every partition paused, the poll loop going on (long work)
    background: bool = False
    #: in background mode, wait this long for the task before pausing (capped at a quarter of the
    #: poll interval): short tasks then cost no pause, resume and refetch
    inline_wait_s: float = 1.0
    task_timeout_s: float = 300.0
    max_poll_interval_ms: int = 300_000
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    #: when the retry/DLQ publish itself fails, try the message again after this pause
    output_backoff_s: float = 5.0
    commit_timeout_s: float = 10.0
    watchdog_interval_s: float = 5.0
    stall_after_s: float = 120.0


class ConsumerMetrics:
    """Prometheus metrics of the consumers of one process, on that process's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.outcomes = Counter(
            "zixly_consumer_messages_total",
            "Messages consumed, by outcome (processed, retried, dead_lettered, held, deferred)",
            ["group", "topic", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "zixly_consumer_handler_duration_seconds",
            "Time spent in a use case per message",
            ["group", "topic"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=registry,
        )
        self.lag = Gauge(
            "zixly_consumer_lag",
            "Messages behind the end of each assigned partition",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self.stalled = Gauge(
            "zixly_consumer_stalled",
            "1 while the watchdog sees lag and no progress on unpaused partitions",
            ["group"],
            registry=registry,
        )
        self.rebalances = Counter(
            "zixly_consumer_rebalances_total",
            "Partition assignments received",
            ["group"],
            registry=registry,
        )
        self.dead_letters = Gauge(
            "zixly_dead_letter_messages",
            "Messages in a dead-letter topic (end minus beginning offset)",
            ["topic"],
            registry=registry,
        )


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runtime: ConsumerRuntime) -> None:
        self._runtime = runtime

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self._runtime.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._runtime.on_assigned(set(assigned))


class ConsumerRuntime:
    """One consumer (one group member) of ``topics`` and their retry topics, and its acknowledgements."""

    def __init__(
        self,
        broker: KafkaBroker,
        topics: tuple[str, ...],
        *,
        handler: Handler,
        expected: tuple[type, ...],
        options: ConsumerOptions,
        metrics: ConsumerMetrics,
    ) -> None:
        self.broker = broker
        self.topics = topics
        self.options = options
        self.metrics = metrics
        self._handler = handler
        self._expected = expected
        self._held: dict[TopicPartition, float] = {}
        self._busy: asyncio.Task[None] | None = None
        self._draining = False
        self._processed = 0
        self._progress_mark: tuple[int, tuple[tuple[TopicPartition, int], ...]] | None = None
        self._progress_at = time.monotonic()
        self.stalled = False
        self.assigned_generations = 0
        self._watchdog: asyncio.Task[None] | None = None
        self._inline_wait_s = min(options.inline_wait_s, options.max_poll_interval_ms / 4000)
        self.subscriber: LogicSubscriber[Any] = broker.subscriber(
            *topics,
            *(retry_topic(t) for t in topics),
            group_id=options.group_id,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            max_poll_records=1,
            max_poll_interval_ms=options.max_poll_interval_ms,
            session_timeout_ms=options.session_timeout_ms,
            heartbeat_interval_ms=options.heartbeat_interval_ms,
            listener=_Listener(self),
            title=f"{options.group_id}:{','.join(topics)}",
            description=f"Consumer group {options.group_id}; failures go to <topic>.retry and <topic>.dlq",
        )
        self.subscriber(self._consume)
        # Declared (not only used) so that the AsyncAPI document shows where failures go.
        self._failure_publishers = {
            target: broker.publisher(
                target,
                title=f"{target}:publish",
                description=f"Messages of {topic} that failed: {kind}, with x-* failure headers",
            )
            for topic in topics
            for target, kind in (
                (retry_topic(topic), "transient errors, tried again after a backoff"),
                (dead_letter_topic(topic), "poison or out of attempts; see `zixly dlq`"),
            )
        }

    # -- the FastStream handler -----------------------------------------------------------------------

    async def _consume(self, msg: KafkaMessage) -> None:
        record = msg.raw_message
        tp = TopicPartition(record.topic, record.partition)  # type: ignore[union-attr]
        offset: int = record.offset  # type: ignore[union-attr]
        if self._draining or self._busy is not None:
            # Fetched before the pause took effect (or from a partition assigned meanwhile): later.
            self._rewind(tp, offset)
            self.metrics.outcomes.labels(self.options.group_id, tp.topic, "deferred").inc()
            return
        failure = Failure.from_headers(msg.headers) if tp.topic.endswith(".retry") else None
        if failure is not None and failure.next_attempt_at is not None:
            wait_s = (failure.next_attempt_at - datetime.now(UTC)).total_seconds()
            if wait_s > 0:
                self._hold(tp, offset, wait_s)
                self.metrics.outcomes.labels(self.options.group_id, tp.topic, "held").inc()
                return
        source = failure.original_topic if failure is not None else tp.topic
        body: bytes = msg.body
        key: bytes | None = record.key  # type: ignore[union-attr]
        try:
            event = decode(body)
            if not isinstance(event.data, self._expected):
                raise UndecodableMessage(f"{event.type} does not belong on {source}")
        except UndecodableMessage as exc:
            await self._fail(tp, offset, source, body, key, failure, None, exc)
            return
        if self.options.background and self.consumer is not None:
            busy = asyncio.create_task(self._background(tp, offset, source, body, key, failure, event))
            self._busy = busy
            # Most tasks end within the wait: no pause, no refetch. A longer one goes on with every
            # partition paused while the poll loop keeps the member in its group.
            await asyncio.wait({busy}, timeout=self._inline_wait_s)
            if not busy.done():
                self._apply_pauses()
            return
        await self._process(tp, offset, source, body, key, failure, event)

    async def _background(
        self,
        tp: TopicPartition,
        offset: int,
        source: str,
        body: bytes,
        key: bytes | None,
        failure: Failure | None,
        event: Envelope[Any],
    ) -> None:
        try:
            if await self._process(tp, offset, source, body, key, failure, event):
                consumer = self.consumer
                # Revoked and assigned back meanwhile: the position went back to the committed offset.
                if consumer is not None and tp in consumer.assignment():
                    consumer.seek(tp, offset + 1)
        except asyncio.CancelledError:
            log.warning("in-flight message abandoned; it will be redelivered", topic=tp.topic, offset=offset)
            raise
        finally:
            self._busy = None
            self._apply_pauses()

    async def _process(
        self,
        tp: TopicPartition,
        offset: int,
        source: str,
        body: bytes,
        key: bytes | None,
        failure: Failure | None,
        event: Envelope[Any],
    ) -> bool:
        """Run the use case; commit, retry or dead-letter. False if the message must be fetched again."""
        started = time.perf_counter()
        try:
            with structlog.contextvars.bound_contextvars(
                event_id=event.id,
                event_type=event.type,
                correlation_id=event.correlation_id,
                subject=event.subject,
            ):
                await asyncio.wait_for(self._handler(event), timeout=self.options.task_timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return await self._fail(tp, offset, source, body, key, failure, event.id, exc)
        finally:
            self.metrics.duration.labels(self.options.group_id, source).observe(time.perf_counter() - started)
        self._processed += 1
        self.metrics.outcomes.labels(self.options.group_id, tp.topic, "processed").inc()
        await self._commit(tp, offset)
        return True

    async def _fail(
        self,
        tp: TopicPartition,
        offset: int,
        source: str,
        body: bytes,
        key: bytes | None,
        failure: Failure | None,
        ce_id: str | None,
        error: BaseException,
    ) -> bool:
        """Send the message to the retry or dead-letter topic, then commit; hold it if that fails."""
        now = datetime.now(UTC)
        if failure is None:
            failure = Failure.first(
                topic=tp.topic,
                partition=tp.partition,
                offset=offset,
                ce_id=ce_id or _ce_id(body),
                error=error,
                at=now,
            )
        else:
            failure = failure.again(error, now)
        if isinstance(error, POISON):
            target, failure, outcome = dead_letter_topic(source), failure.dead(failures.UNDECODABLE), "dead"
        elif failure.attempts >= self.options.retry.max_attempts:
            target, failure = dead_letter_topic(source), failure.dead(failures.RETRIES_EXHAUSTED)
            outcome = "dead"
        else:
            delay = self.options.retry.backoff_s(failure.attempts)
            target, failure, outcome = retry_topic(source), failure.retry_after(delay), "retry"
        fields = {
            "topic": tp.topic,
            "partition": tp.partition,
            "offset": offset,
            "target": target,
            "attempts": failure.attempts,
            "error_class": type(error).__name__,
            "error": str(error)[:500],
        }
        if outcome == "dead":
            log.error("message sent to the dead-letter topic", reason=failure.reason, **fields)
        else:
            log.warning(
                "message failed; sent to the retry topic", next_attempt_at=failure.next_attempt_at, **fields
            )
        try:
            headers = {"content-type": CONTENT_TYPE, **failure.to_headers()}
            publisher = self._failure_publishers.get(target)
            if publisher is not None:
                await publisher.publish(body, key=key, headers=headers)
            else:
                await self.broker.publish(body, target, key=key, headers=headers)
        except Exception as exc:
            log.error(
                "cannot publish the failed message; it stays uncommitted and is tried again",
                error=repr(exc),
                pause_s=self.options.output_backoff_s,
                **fields,
            )
            self._hold(tp, offset, self.options.output_backoff_s)
            return False
        self.metrics.outcomes.labels(
            self.options.group_id, tp.topic, "dead_lettered" if outcome == "dead" else "retried"
        ).inc()
        await self._commit(tp, offset)
        return True

    # -- offsets and pauses ---------------------------------------------------------------------------

    @property
    def consumer(self) -> Any:
        """The aiokafka consumer; None before start and under FastStream's in-memory test broker."""
        return getattr(self.subscriber, "consumer", None)

    async def _commit(self, tp: TopicPartition, offset: int) -> None:
        consumer = self.consumer
        if consumer is None:
            return
        if tp not in consumer.assignment():
            log.warning("partition revoked before the commit; its new owner redoes the message", tp=str(tp))
            return
        try:
            await asyncio.wait_for(consumer.commit({tp: offset + 1}), timeout=self.options.commit_timeout_s)
        except Exception as exc:
            # The output is durable; the message is redelivered and its duplicate absorbed downstream.
            log.warning("commit failed; the message may be redelivered", tp=str(tp), error=repr(exc))

    def _rewind(self, tp: TopicPartition, offset: int) -> None:
        consumer = self.consumer
        if consumer is not None and tp in consumer.assignment():
            consumer.seek(tp, offset)
        self._apply_pauses()

    def _hold(self, tp: TopicPartition, offset: int, wait_s: float) -> None:
        """Fetch ``offset`` of ``tp`` again in ``wait_s`` seconds; the other partitions go on."""
        self._held[tp] = time.monotonic() + wait_s
        self._rewind(tp, offset)
        asyncio.get_running_loop().call_later(wait_s + 0.01, self._apply_pauses)

    def _apply_pauses(self) -> None:
        consumer = self.consumer
        if consumer is None:
            return
        now = time.monotonic()
        self._held = {tp: until for tp, until in self._held.items() if until > now}
        assigned = set(consumer.assignment())
        if self._draining or self._busy is not None:
            wanted = assigned
        else:
            wanted = {tp for tp in self._held if tp in assigned}
        paused = set(consumer.paused())
        if wanted - paused:
            consumer.pause(*(wanted - paused))
        if (paused & assigned) - wanted:
            consumer.resume(*((paused & assigned) - wanted))

    def on_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("partitions revoked", group=self.options.group_id, partitions=len(revoked))

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self.assigned_generations += 1
        self.metrics.rebalances.labels(self.options.group_id).inc()
        log.info("partitions assigned", group=self.options.group_id, partitions=len(assigned))
        self._apply_pauses()

    # -- lifecycle ------------------------------------------------------------------------------------

    def joined(self) -> bool:
        consumer = self.consumer
        return consumer is not None and bool(consumer.assignment())

    def start_watchdog(self) -> None:
        self._watchdog = asyncio.create_task(self._watch())

    async def drain(self, grace_s: float) -> None:
        """Stop fetching; give the in-flight task ``grace_s`` to finish (then abandon it)."""
        self._draining = True
        self._apply_pauses()
        if self._watchdog is not None:
            self._watchdog.cancel()
        busy = self._busy
        if busy is not None:
            done, _ = await asyncio.wait({busy}, timeout=grace_s)
            if not done:
                busy.cancel()
                await asyncio.gather(busy, return_exceptions=True)

    async def stop(self, timeout_s: float) -> None:
        """Stop the consumer (waits for an inline handler, leaves the group), bounded in time."""
        try:
            await asyncio.wait_for(self.subscriber.stop(), timeout=timeout_s)
        except Exception as exc:
            log.error("the consumer did not stop cleanly", group=self.options.group_id, error=repr(exc))

    # -- watchdog -------------------------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.options.watchdog_interval_s)
            try:
                await self.check()
            except Exception as exc:  # the watchdog must never die of what it watches
                log.debug("watchdog check skipped", error=repr(exc))

    async def check(self) -> None:
        """Update lag and dead-letter gauges; decide whether the consumer is stalled."""
        consumer = self.consumer
        if consumer is None:
            return
        assigned = sorted(consumer.assignment())
        dlqs = [TopicPartition(dead_letter_topic(t), 0) for t in self.topics]
        ends = await asyncio.wait_for(consumer.end_offsets([*assigned, *dlqs]), timeout=5.0)
        starts = await asyncio.wait_for(consumer.beginning_offsets(dlqs), timeout=5.0)
        for tp in dlqs:
            self.metrics.dead_letters.labels(tp.topic).set(ends[tp] - starts[tp])
        paused = set(consumer.paused())
        positions = []
        lagging = False
        for tp in assigned:
            position = await asyncio.wait_for(consumer.position(tp), timeout=5.0)
            positions.append((tp, position))
            lag = max(0, ends[tp] - position)
            self.metrics.lag.labels(self.options.group_id, tp.topic, str(tp.partition)).set(lag)
            lagging = lagging or (lag > 0 and tp not in paused)
        mark = (self._processed, tuple(positions))
        now = time.monotonic()
        if mark != self._progress_mark or not lagging or self._busy is not None:
            self._progress_mark, self._progress_at = mark, now
        stalled = now - self._progress_at > self.options.stall_after_s
        if stalled and not self.stalled:
            log.error(
                "consumer stalled: lag on unpaused partitions and no progress",
                group=self.options.group_id,
                seconds=round(now - self._progress_at, 1),
            )
        self.stalled = stalled
        self.metrics.stalled.labels(self.options.group_id).set(1 if stalled else 0)


def _ce_id(body: bytes) -> str | None:
    """The CloudEvents id of a message that could not be decoded, if it has one."""
    try:
        value = json.loads(body).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def readiness(broker: KafkaBroker, runtimes: list[ConsumerRuntime]) -> Any:
    """Ready once the broker answers and every consumer has joined its group and holds partitions."""

    @get
    async def ready(scope: object) -> AsgiResponse:
        if all(r.joined() for r in runtimes) and await broker.ping(timeout=2.0):
            return AsgiResponse(b"ready", status_code=200)
        return AsgiResponse(b"not ready: broker unreachable or partitions not assigned yet", status_code=503)

    return ready


def liveness(runtimes: list[ConsumerRuntime]) -> Any:
    """Alive while the event loop answers and no consumer is stalled. Never asks Kafka."""

    @get
    async def alive(scope: object) -> AsgiResponse:
        stalled = [r.options.group_id for r in runtimes if r.stalled]
        if stalled:
            return AsgiResponse(f"stalled: {', '.join(stalled)}".encode(), status_code=503)
        return AsgiResponse(b"ok", status_code=200)

    return alive


async def shutdown(
    broker: KafkaBroker,
    runtimes: list[ConsumerRuntime],
    *,
    grace_s: float,
    stop_s: float,
    after_drain: Iterable[Callable[[], Awaitable[None]]] = (),
) -> None:
    """SIGTERM: stop fetching, finish or abandon in-flight work, run ``after_drain`` (work that must not
    race the handlers, e.g. stopping a relay), leave the groups, stop the producer."""
    log.info("shutting down: draining the consumers", grace_s=grace_s)
    await asyncio.gather(*(r.drain(grace_s) for r in runtimes))
    for hook in after_drain:
        await hook()
    await asyncio.gather(*(r.stop(stop_s) for r in runtimes))
    try:
        await asyncio.wait_for(broker.stop(), timeout=stop_s)
    except Exception as exc:
        log.error("the producer did not stop cleanly", error=repr(exc))
    log.info("consumers stopped")


def exit_if_stuck(after_s: float) -> threading.Timer:
    """Last resort once shutdown began: if a stop hangs anyway, end the process after ``after_s``."""

    def give_up() -> None:
        log.error("shutdown did not finish in time; exiting", after_s=after_s)
        os._exit(1)

    timer = threading.Timer(after_s, give_up)
    timer.daemon = True
    timer.start()
    return timer
