"""The consumer shell on a real broker (Tansu): retries, dead letters, holds, background work, shutdown."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import CollectorRegistry

from zixly_contracts import failures
from zixly_contracts.envelope import Envelope, encode, envelope
from zixly_contracts.events import SweepFailed
from zixly_contracts.failures import Failure
from zixly_contracts.topics import dead_letter_topic, retry_topic
from zixly_runtime.consumer import ConsumerMetrics, ConsumerOptions, ConsumerRuntime, RetryPolicy, shutdown
from zixly_runtime.kafka import make_broker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def create(bootstrap: str, topic: str, partitions: int = 2) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(topic, partitions, 1),
                NewTopic(retry_topic(topic), partitions, 1),
                NewTopic(dead_letter_topic(topic), 1, 1),
            ]
        )
    finally:
        await admin.close()


def event(sweep: str) -> Envelope[Any]:
    return envelope(
        SweepFailed(sweep_id=sweep, reason="r"),
        id=f"ev-{sweep}",
        source="/test",
        subject=sweep,
        correlation_id="msg_1",
    )


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        records = []
        while batches := await consumer.getmany(timeout_ms=1000):
            records += [r for rs in batches.values() for r in rs]
        return records
    finally:
        await consumer.stop()


async def until(condition: Callable[[], bool | Awaitable[bool]], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("condition not met in time")


class Harness:
    def __init__(
        self, bootstrap: str, topic: str, handler: Any, group_id: str | None = None, **options: Any
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.broker = make_broker(bootstrap, enable_idempotence=False, client_id="test")
        self.runtime = ConsumerRuntime(
            self.broker,
            (topic,),
            handler=handler,
            expected=(SweepFailed,),
            options=ConsumerOptions(group_id=group_id or f"g-{uuid.uuid4().hex[:8]}", **options),
            metrics=ConsumerMetrics(CollectorRegistry()),
        )

    async def __aenter__(self) -> Harness:
        await self.broker.start()
        await until(self.runtime.joined)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await shutdown(self.broker, [self.runtime], grace_s=5, stop_s=10)

    async def publish(self, body: bytes, key: bytes = b"k") -> None:
        await self.broker.publish(body, self.topic, key=key)

    async def committed(self) -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.runtime.options.group_id)
        await consumer.start()
        try:
            total = 0
            for partition in range(2):
                total += await consumer.committed(TopicPartition(self.topic, partition)) or 0
            return total
        finally:
            await consumer.stop()


async def test_transient_errors_retry_with_backoff_then_succeed(kafka_bootstrap):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await create(kafka_bootstrap, topic)
    calls: list[datetime] = []

    async def flaky(ev: Envelope[Any]) -> None:
        calls.append(datetime.now(UTC))
        if len(calls) < 3:
            raise ConnectionError(f"database away (call {len(calls)})")

    retry = RetryPolicy(max_attempts=5, initial_backoff_s=0.5, multiplier=2.0)
    async with Harness(kafka_bootstrap, topic, flaky, retry=retry) as h:
        await h.publish(encode(event("s1")))
        await until(lambda: len(calls) == 3)
        await asyncio.sleep(1.0)  # nothing more arrives
        assert len(calls) == 3
    retried = await read_all(kafka_bootstrap, retry_topic(topic))
    assert len(retried) == 2
    first, second = (Failure.from_headers(dict(r.headers)) for r in retried)
    assert first is not None
    assert second is not None
    assert (first.attempts, second.attempts) == (1, 2)
    assert first.original_topic == second.original_topic == topic
    assert first.original_ce_id == "ev-s1"
    assert first.first_error_class == "ConnectionError"
    assert "call 1" in second.first_error_message
    assert "call 2" in second.last_error_message
    assert first.next_attempt_at is not None
    assert second.next_attempt_at is not None
    # Each retry ran no earlier than the time its headers promised (the partition was paused until then).
    assert calls[1] >= first.next_attempt_at
    assert calls[2] >= second.next_attempt_at
    assert (second.next_attempt_at - second.last_failed_at).total_seconds() == pytest.approx(1.0)
    assert retried[0].key == b"k"
    assert await read_all(kafka_bootstrap, dead_letter_topic(topic)) == []


async def test_exhausted_retries_and_poison_go_to_the_dlq_and_the_rest_flows(kafka_bootstrap):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await create(kafka_bootstrap, topic)
    done: list[str] = []

    async def handler(ev: Envelope[Any]) -> None:
        if ev.subject == "bad":
            raise RuntimeError("always fails")
        done.append(ev.subject)

    retry = RetryPolicy(max_attempts=3, initial_backoff_s=0.2)
    async with Harness(kafka_bootstrap, topic, handler, retry=retry) as h:
        await h.publish(encode(event("bad")))
        await h.publish(b'{"not": "an event"}')
        for i in range(5):
            await h.publish(encode(event(f"ok{i}")))
        await until(lambda: len(done) == 5)
        dead = []

        async def two_dead() -> bool:
            dead[:] = await read_all(kafka_bootstrap, dead_letter_topic(topic))
            return len(dead) == 2

        await until(two_dead)
        await until(lambda: h.committed(), timeout_s=10)
        assert await h.committed() == 7
    by_reason = {r.headers and dict(r.headers)[failures.DEAD_LETTER_REASON].decode(): r for r in dead}
    poison = Failure.from_headers(dict(by_reason[failures.UNDECODABLE].headers))
    exhausted = Failure.from_headers(dict(by_reason[failures.RETRIES_EXHAUSTED].headers))
    assert poison is not None
    assert exhausted is not None
    assert (poison.attempts, poison.last_error_class) == (1, "UndecodableMessage")
    assert by_reason[failures.UNDECODABLE].value == b'{"not": "an event"}'
    assert (exhausted.attempts, exhausted.last_error_message) == (3, "always fails")
    assert exhausted.original_topic == topic
    assert sorted(done) == [f"ok{i}" for i in range(5)]


async def test_a_waiting_retry_does_not_block_fresh_messages(kafka_bootstrap):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await create(kafka_bootstrap, topic)
    seen: list[str] = []

    async def handler(ev: Envelope[Any]) -> None:
        seen.append(ev.subject)
        if ev.subject == "slow" and seen.count("slow") == 1:
            raise TimeoutError("upstream timed out")

    retry = RetryPolicy(max_attempts=3, initial_backoff_s=4.0)
    async with Harness(kafka_bootstrap, topic, handler, retry=retry) as h:
        await h.publish(encode(event("slow")))
        await until(lambda: "slow" in seen)
        for i in range(3):
            await h.publish(encode(event(f"fresh{i}")), key=f"k{i}".encode())
        await until(lambda: len(seen) == 4)
        assert seen.count("slow") == 1  # still waiting for its next attempt
        await until(lambda: seen.count("slow") == 2)
    assert seen[-1] == "slow"


async def test_a_background_task_longer_than_the_poll_interval_runs_once(kafka_bootstrap):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await create(kafka_bootstrap, topic)
    runs: list[str] = []

    async def long_task(ev: Envelope[Any]) -> None:
        runs.append(ev.subject)
        await asyncio.sleep(4.0)  # four poll intervals

    options = {"background": True, "max_poll_interval_ms": 1000, "session_timeout_ms": 6000}
    async with Harness(kafka_bootstrap, topic, long_task, **options) as h:
        generations = h.runtime.assigned_generations
        await h.publish(encode(event("long")))
        await h.publish(encode(event("next")))
        await until(lambda: runs == ["long", "next"], timeout_s=30)
        await until(lambda: h.runtime._busy is None, timeout_s=10)
        assert h.runtime.assigned_generations == generations  # no rebalance
        assert await h.committed() == 2
    assert runs == ["long", "next"]


async def test_shutdown_abandons_a_task_past_the_grace_period_and_it_is_redone(kafka_bootstrap):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await create(kafka_bootstrap, topic)
    started: list[str] = []
    finished: list[str] = []

    async def task(ev: Envelope[Any]) -> None:
        started.append(ev.subject)
        await asyncio.sleep(30 if len(started) == 1 else 0)
        finished.append(ev.subject)

    h = Harness(kafka_bootstrap, topic, task, background=True)
    group = h.runtime.options.group_id
    await h.__aenter__()
    await h.publish(encode(event("x")))
    await until(lambda: started == ["x"])
    await shutdown(h.broker, [h.runtime], grace_s=0.5, stop_s=10)
    assert finished == []
    # The next member of the group gets the abandoned message again, and finishes it.
    async with Harness(kafka_bootstrap, topic, task, group_id=group, background=True):
        await until(lambda: finished == ["x"], timeout_s=30)
    assert started == ["x", "x"]
