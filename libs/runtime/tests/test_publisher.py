"""The acks=all publisher on a real broker (Tansu): a slot places an event on ``slot mod partitions``."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from zixly_contracts.envelope import decode, envelope
from zixly_contracts.events import SweepFailed
from zixly_runtime.kafka import KafkaEventPublisher, make_broker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_slots_spread_events_round_robin_over_the_partitions(kafka_bootstrap: str) -> None:
    topic = f"spread-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 5, 1)])
    finally:
        await admin.close()
    broker = make_broker(kafka_bootstrap, enable_idempotence=False, client_id="test-spread")
    publisher = KafkaEventPublisher(broker)
    await broker.start()
    try:
        assert await publisher.partition_count(topic) == 5
        for slot in range(7, 14):
            data = SweepFailed(sweep_id=f"s{slot}", reason="r")
            sent = envelope(data, id=f"e{slot}", source="/test", subject=data.sweep_id, correlation_id="c")
            await publisher.publish(topic, sent, key=data.sweep_id, slot=slot)
    finally:
        await broker.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        records = []
        while batches := await consumer.getmany(timeout_ms=1000):
            records += [r for rs in batches.values() for r in rs]
    finally:
        await consumer.stop()
    placed = sorted((decode(r.value).data.sweep_id, r.partition, r.key) for r in records)
    assert placed == sorted((f"s{slot}", slot % 5, f"s{slot}".encode()) for slot in range(7, 14))
