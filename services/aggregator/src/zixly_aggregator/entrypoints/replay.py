"""Reading the read-model topics from the start, for a rebuild (``zixly replay``).

No consumer group: every partition is assigned and read from its beginning up to the end offsets taken
when the replay starts, so a replay of a live system ends. Poison messages are skipped (the live
consumer dead-lettered them too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from zixly_contracts.envelope import Envelope, UndecodableMessage, decode

log = structlog.get_logger(__name__)


@dataclass
class ReplayReport:
    read: int = 0
    projected: int = 0
    duplicates: int = 0
    skipped: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


async def replay_topics(
    bootstrap_servers: str,
    topics: tuple[str, ...],
    *,
    handler: Callable[[Envelope[Any]], Awaitable[bool]],
    expected: tuple[type, ...],
) -> ReplayReport:
    report = ReplayReport()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        starts = await consumer.beginning_offsets(tps)
        pending = {tp for tp in pending if starts[tp] < ends[tp]}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000, max_records=500)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    report.read += 1
                    try:
                        event = decode(record.value)
                        if not isinstance(event.data, expected):
                            raise UndecodableMessage(f"{event.type} does not belong on {tp.topic}")
                    except UndecodableMessage as exc:
                        report.skipped += 1
                        log.warning(
                            "replay skips a poison message", tp=str(tp), offset=record.offset, error=str(exc)
                        )
                        continue
                    report.by_type[event.type] = report.by_type.get(event.type, 0) + 1
                    if await handler(event):
                        report.projected += 1
                    else:
                        report.duplicates += 1
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return report
    finally:
        await consumer.stop()
