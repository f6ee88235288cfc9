"""``zixly dlq``: list, inspect and re-drive dead letters.

Every ``<topic>.dlq`` holds messages exactly as they were (same body, same key) with the failure headers
of ``zixly_contracts.failures``. Re-driving publishes a dead letter back onto its original topic (with an
``x-redriven-from`` header); consumers are idempotent, so re-driving twice changes nothing downstream.
``redrive --all`` remembers how far it got in the consumer group ``zixly-dlq-redrive``, so it only
re-drives what came since.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from zixly_contracts import failures
from zixly_contracts.envelope import CONTENT_TYPE
from zixly_contracts.failures import Failure, base_topic
from zixly_contracts.topics import all_topics

REDRIVE_GROUP = "zixly-dlq-redrive"


def dead_letter_topics() -> list[str]:
    return [t.name for t in all_topics() if t.name.endswith(".dlq")]


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    redriven: bool

    @property
    def ref(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def failure(self) -> Failure | None:
        return Failure.from_headers(self.headers)

    @property
    def original_topic(self) -> str:
        return self.headers.get(failures.ORIGINAL_TOPIC) or base_topic(self.topic)

    def summary(self) -> dict[str, Any]:
        failure = self.failure
        return {
            "ref": self.ref,
            "original": (
                f"{failure.original_topic}:{failure.original_partition}:{failure.original_offset}"
                if failure
                else None
            ),
            "ce_id": failure.original_ce_id if failure else None,
            "reason": failure.reason if failure else None,
            "attempts": failure.attempts if failure else None,
            "error_class": failure.last_error_class if failure else None,
            "error": failure.last_error_message if failure else None,
            "first_failed_at": failure.first_failed_at.isoformat() if failure else None,
            "last_failed_at": failure.last_failed_at.isoformat() if failure else None,
            "redriven": self.redriven,
        }


def parse_ref(ref: str) -> tuple[str, int, int]:
    """``backtests.tasks.dlq:0:12`` → (topic, partition, offset)."""
    parts = ref.rsplit(":", 2)
    if len(parts) != 3 or not all(p.isdecimal() for p in parts[1:]):
        raise ValueError(f"{ref!r} is not <dlq topic>:<partition>:<offset>, as `zixly dlq list` prints it")
    topic, partition, offset = parts
    if not topic.endswith(".dlq"):
        raise ValueError(f"{ref!r} does not name a dead-letter topic (<topic>.dlq:<partition>:<offset>)")
    return topic, int(partition), int(offset)


async def _redrive_marks(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    marks = {}
    for tp in tps:
        committed = await consumer.committed(tp)
        marks[tp] = committed or 0
    return marks


async def list_dead_letters(bootstrap: str, topics: list[str] | None = None) -> list[DeadLetter]:
    """Every dead letter in ``topics`` (default: every ``.dlq`` topic), oldest first per topic."""
    topics = topics or dead_letter_topics()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=REDRIVE_GROUP,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        await consumer.start()
        await consumer.topics()  # refresh metadata so that partitions_for_topic knows them all
        tps = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        if not tps:
            return []
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        marks = await _redrive_marks(consumer, tps)
        await consumer.seek_to_beginning(*tps)
        letters: list[DeadLetter] = []
        pending = {tp for tp in tps if ends[tp] > 0}
        starts = await consumer.beginning_offsets(tps)
        pending = {tp for tp in pending if starts[tp] < ends[tp]}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=2000)
            if not batches:
                break
            for tp, records in batches.items():
                for r in records:
                    if r.offset >= ends[tp]:
                        continue
                    letters.append(
                        DeadLetter(
                            topic=r.topic,
                            partition=r.partition,
                            offset=r.offset,
                            key=r.key,
                            value=r.value,
                            headers={k: v.decode(errors="replace") for k, v in r.headers},
                            redriven=r.offset < marks[tp],
                        )
                    )
                if records and records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
        return sorted(letters, key=lambda d: (d.topic, d.partition, d.offset))
    finally:
        await consumer.stop()


async def _publish_back(producer: AIOKafkaProducer, letter: DeadLetter) -> None:
    headers = [
        ("content-type", letter.headers.get("content-type", CONTENT_TYPE).encode()),
        (failures.REDRIVEN_FROM, letter.ref.encode()),
    ]
    await producer.send_and_wait(letter.original_topic, letter.value, key=letter.key, headers=headers)


async def redrive(
    bootstrap: str, refs: list[str] | None = None, topics: list[str] | None = None
) -> list[str]:
    """Re-drive the dead letters named by ``refs``, or every one not re-driven yet; return their refs."""
    letters = await list_dead_letters(bootstrap, topics)
    if refs is not None:
        wanted = {parse_ref(ref) for ref in refs}
        chosen = [d for d in letters if (d.topic, d.partition, d.offset) in wanted]
        missing = wanted - {(d.topic, d.partition, d.offset) for d in chosen}
        if missing:
            raise KeyError(f"no such dead letter: {', '.join(f'{t}:{p}:{o}' for t, p, o in sorted(missing))}")
    else:
        chosen = [d for d in letters if not d.redriven]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        await producer.start()
        for letter in chosen:
            await _publish_back(producer, letter)
    finally:
        await producer.stop()
    if refs is None and chosen:
        # Remember how far `redrive --all` got, per dead-letter partition.
        marks: dict[TopicPartition, OffsetAndMetadata] = {}
        for letter in chosen:
            tp = TopicPartition(letter.topic, letter.partition)
            marks[tp] = OffsetAndMetadata(
                max(letter.offset + 1, marks.get(tp, OffsetAndMetadata(0, "")).offset), ""
            )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=REDRIVE_GROUP, enable_auto_commit=False
        )
        try:
            await consumer.start()
            consumer.assign(list(marks))
            await consumer.commit(marks)
        finally:
            await consumer.stop()
    return [d.ref for d in chosen]


#: The widest the error column gets; longer errors end in "…" (``zixly dlq show`` has them whole).
ERROR_WIDTH = 60


def fit(text: str, width: int) -> str:
    """``text`` on one line in at most ``width`` characters, cut with "…" when longer."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_table(letters: list[DeadLetter]) -> str:
    """One line per dead letter, every column as wide as its widest cell and two spaces apart."""
    if not letters:
        return "no dead letters"
    header = ("ref", "reason", "tries", "error", "redriven")
    rows = [header, *(_table_row(d) for d in letters)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right_aligned = {header.index("tries")}
    return "\n".join(
        "  ".join(
            cell.rjust(width) if i in right_aligned else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )


def _table_row(letter: DeadLetter) -> tuple[str, str, str, str, str]:
    s = letter.summary()
    error = fit(f"{s['error_class']}: {s['error']}", ERROR_WIDTH) if letter.failure else "-"
    tries = str(s["attempts"]) if s["attempts"] is not None else "-"
    return (letter.ref, s["reason"] or "-", tries, error, "yes" if letter.redriven else "no")


def render_letter(letter: DeadLetter) -> str:
    try:
        body: Any = json.loads(letter.value)
    except ValueError:
        body = letter.value.decode(errors="replace")
    return json.dumps(
        {
            **letter.summary(),
            "key": letter.key.decode(errors="replace") if letter.key else None,
            "headers": letter.headers,
            "body": body,
        },
        indent=2,
    )
