"""``zixly dlq`` against a real broker: list, show, re-drive (once with --all)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from zixly.cli import main
from zixly_contracts import failures
from zixly_contracts.failures import Failure
from zixly_contracts.topics import BACKTESTS_RESULTS, BACKTESTS_TASKS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def put(bootstrap: str, topic: str, body: bytes, failure: Failure) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        headers = [(k, v.encode()) for k, v in failure.to_headers().items()]
        await producer.send_and_wait(topic, body, key=b"key-1", headers=headers)
    finally:
        await producer.stop()


async def read(bootstrap: str, topic: str) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        out = []
        while batches := await consumer.getmany(timeout_ms=1000):
            out += [r for rs in batches.values() for r in rs]
        return out
    finally:
        await consumer.stop()


def failure(topic: str, offset: int, error: Exception, reason: str) -> Failure:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    return Failure.first(
        topic=topic, partition=3, offset=offset, ce_id=f"ce-{offset}", error=error, at=at
    ).dead(reason)


def test_list_show_and_redrive(kafka_bootstrap, capsys):
    asyncio.run(
        put(
            kafka_bootstrap,
            f"{BACKTESTS_TASKS}.dlq",
            b'{"not": "an event"}',
            failure(BACKTESTS_TASKS, 7, ValueError("not a CloudEvents envelope"), failures.UNDECODABLE),
        )
    )
    asyncio.run(
        put(
            kafka_bootstrap,
            f"{BACKTESTS_RESULTS}.dlq",
            b'{"id": "ce-9"}',
            failure(BACKTESTS_RESULTS, 9, ConnectionError("db down"), failures.RETRIES_EXHAUSTED),
        )
    )
    args = ["dlq", "--bootstrap", kafka_bootstrap]
    assert main([*args, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [d["ref"] for d in listed] == [f"{BACKTESTS_RESULTS}.dlq:0:0", f"{BACKTESTS_TASKS}.dlq:0:0"]
    assert listed[1]["original"] == f"{BACKTESTS_TASKS}:3:7"
    assert (listed[1]["reason"], listed[1]["error_class"]) == ("undecodable", "ValueError")
    assert (listed[0]["reason"], listed[0]["error"], listed[0]["redriven"]) == (
        "retries-exhausted",
        "db down",
        False,
    )

    assert main([*args, "show", f"{BACKTESTS_TASKS}.dlq:0:0"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["body"] == {"not": "an event"}
    assert shown["key"] == "key-1"
    assert shown["headers"][failures.ORIGINAL_CE_ID] == "ce-7"
    assert main([*args, "show", f"{BACKTESTS_TASKS}.dlq:0:5"]) == 1

    assert main([*args, "redrive", f"{BACKTESTS_RESULTS}.dlq:0:0"]) == 0
    assert main([*args, "redrive", "--all"]) == 0
    out = capsys.readouterr().out
    assert "2 dead letter(s) re-driven" in out
    assert main([*args, "redrive", "--all"]) == 0
    assert "0 dead letter(s) re-driven" in capsys.readouterr().out

    results = asyncio.run(read(kafka_bootstrap, BACKTESTS_RESULTS))
    tasks = asyncio.run(read(kafka_bootstrap, BACKTESTS_TASKS))
    assert [r.value for r in results] == [b'{"id": "ce-9"}', b'{"id": "ce-9"}']  # explicit, then --all
    assert [r.value for r in tasks] == [b'{"not": "an event"}']
    assert dict(tasks[0].headers)[failures.REDRIVEN_FROM] == f"{BACKTESTS_TASKS}.dlq:0:0".encode()
    assert tasks[0].key == b"key-1"
    assert main([*args, "list", "--json"]) == 0
    assert all(d["redriven"] for d in json.loads(capsys.readouterr().out))
