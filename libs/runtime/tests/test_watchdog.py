"""The watchdog and the probes, with a stand-in for the aiokafka consumer (no broker needed)."""

from __future__ import annotations

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from zixly_contracts.events import SweepFailed
from zixly_runtime.consumer import ConsumerMetrics, ConsumerOptions, ConsumerRuntime, RetryPolicy
from zixly_runtime.kafka import make_broker

TP0, TP1 = TopicPartition("t", 0), TopicPartition("t", 1)
DLQ = TopicPartition("t.dlq", 0)


class FakeConsumer:
    def __init__(self) -> None:
        self.ends = {TP0: 10, TP1: 5, DLQ: 3}
        self.positions = {TP0: 4, TP1: 5}
        self._paused: set[TopicPartition] = set()

    def assignment(self) -> set[TopicPartition]:
        return {TP0, TP1}

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    def pause(self, *tps: TopicPartition) -> None:
        self._paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self._paused.difference_update(tps)

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp] for tp in tps}

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 1)

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]


def runtime(registry: CollectorRegistry) -> tuple[ConsumerRuntime, FakeConsumer]:
    async def handler(event: object) -> None:
        return None

    r = ConsumerRuntime(
        make_broker("127.0.0.1:1", enable_idempotence=False, client_id="t"),
        ("t",),
        handler=handler,
        expected=(SweepFailed,),
        options=ConsumerOptions(group_id="g", stall_after_s=0.0, retry=RetryPolicy()),
        metrics=ConsumerMetrics(registry),
    )
    fake = FakeConsumer()
    r.subscriber.consumer = fake  # type: ignore[assignment]
    return r, fake


async def test_lag_without_progress_is_a_stall_and_progress_clears_it():
    registry = CollectorRegistry()
    r, fake = runtime(registry)
    await r.check()
    lag = {"group": "g", "topic": "t", "partition": "0"}
    assert registry.get_sample_value("zixly_consumer_lag", lag) == 6
    assert registry.get_sample_value("zixly_dead_letter_messages", {"topic": "t.dlq"}) == 2
    await r.check()
    assert r.stalled
    assert registry.get_sample_value("zixly_consumer_stalled", {"group": "g"}) == 1
    fake.positions[TP0] = 7  # it moved
    await r.check()
    assert not r.stalled


async def test_lag_on_paused_partitions_is_no_stall():
    r, fake = runtime(CollectorRegistry())
    fake.pause(TP0)  # e.g. a retry waiting for its time
    await r.check()
    await r.check()
    assert not r.stalled


def test_backoff_doubles_up_to_its_ceiling():
    policy = RetryPolicy(initial_backoff_s=1.0, multiplier=2.0, max_backoff_s=5.0)
    assert [policy.backoff_s(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
