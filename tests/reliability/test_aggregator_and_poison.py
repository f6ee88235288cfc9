"""The aggregator killed mid-projection; poison in the task and result topics; probes without Kafka.

- ``kill -9`` of the aggregator in the middle of a sweep, then a restart: the read model it ends with
  equals the one ``zixly replay`` rebuilds from the topics into a fresh schema, row for row.
- A malformed message (and a valid event of the wrong type) on ``backtests.tasks``, and a malformed one
  on ``backtests.results`` in the partition the sweep's results use: each lands in its DLQ with its
  error; the sweep behind them completes.
- With the broker gone, liveness still answers 200 and readiness 503.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from zixly.cli import main
from zixly.pipeline import SCALE_SPEC, query, submit, sweep_state, topic_events, wait_for_sweep
from zixly.stack import StackConfig, running_stack
from zixly_contracts import failures, ids
from zixly_contracts.envelope import encode, envelope
from zixly_contracts.events import SweepFailed
from zixly_contracts.topics import BACKTESTS_RESULTS, BACKTESTS_TASKS

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(600)]

#: Every read-model table (tracking: which events; outbox: which announcements), row for row.
TABLES = {
    "sweeps": "SELECT * FROM sweeps ORDER BY sweep_id",
    "tasks": "SELECT * FROM tasks ORDER BY task_id",
    "results": "SELECT * FROM results ORDER BY sweep_id, dataset, strategy, params_key",
    "processed_events": "SELECT consumer, event_id, event_type FROM processed_events ORDER BY 1, 2",
    "outbox": "SELECT event_id, topic, key FROM outbox ORDER BY event_id",
}


def stack_config(tmp_path: Path, database_url: str, env: dict[str, str], replicas: int) -> StackConfig:
    return StackConfig.on_free_ports(
        tmp_path,
        backtester_replicas=replicas,
        database_url=database_url,
        service_env=env,
        with_http=False,
    )


def snapshot(database_url: str, schema: str) -> dict[str, list[dict[str, Any]]]:
    return {name: asyncio.run(query(database_url, sql, schema)) for name, sql in TABLES.items()}


def test_aggregator_killed_mid_projection_ends_equal_to_a_replay(
    tmp_path: Path, database_url: str, fast_failover: dict[str, str]
):
    with running_stack(stack_config(tmp_path, database_url, fast_failover, replicas=2)) as stack:
        sweep_id = asyncio.run(submit(stack.bootstrap_servers, {**SCALE_SPEC, "batch_size": 8}, "kill-agg"))
        deadline = time.monotonic() + 120
        while (state := asyncio.run(sweep_state(database_url, sweep_id))) is None or state.tasks_done < 20:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        aggregator = stack.processes.get("aggregator")
        aggregator.kill(signal.SIGKILL)
        killed_at = asyncio.run(sweep_state(database_url, sweep_id))
        time.sleep(2.0)  # results keep arriving on the topic meanwhile
        stack.processes.wait_healthy(stack.processes.restart(aggregator))
        final = wait_for_sweep(database_url, sweep_id, timeout_s=300)
        assert killed_at is not None
        assert killed_at.tasks_done < final.task_count  # killed mid-sweep
        assert (final.status, final.backtests_done, final.tasks_failed) == ("completed", 2100, 0)

        # The live aggregator consumes its own announcement back (and records it) before we compare.
        completed_id = ids.event_id(sweep_id, "sweep.completed")
        sql = "SELECT count(*) AS n FROM processed_events WHERE event_id = :e"
        while asyncio.run(query(database_url, sql, e=completed_id))[0]["n"] == 0:
            assert time.monotonic() < deadline + 300
            time.sleep(0.2)
        args = ["--bootstrap", stack.bootstrap_servers, "--database-url", database_url]
        assert main(["replay", "--schema", "rebuilt", *args]) == 0
        live, rebuilt = snapshot(database_url, "public"), snapshot(database_url, "rebuilt")
        assert len(live["results"]) == 2100
        for table in TABLES:
            assert rebuilt[table] == live[table], table


def test_poison_goes_to_the_dlq_and_the_partitions_flow_on(
    tmp_path: Path, database_url: str, fast_failover: dict[str, str], capsys
):
    with running_stack(stack_config(tmp_path, database_url, fast_failover, replicas=1)) as stack:
        bootstrap = stack.bootstrap_servers
        sweep_webhook = "after-poison"
        sweep_id = ids.sweep_id("cli", sweep_webhook)
        wrong_type = encode(
            envelope(
                SweepFailed(sweep_id="x", reason="r"),
                id="misrouted",
                source="/t",
                subject="x",
                correlation_id="w",
            )
        )

        async def inject() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
            await producer.start()
            try:
                await producer.send_and_wait(BACKTESTS_TASKS, b"\x00\x01 not json", partition=0)
                await producer.send_and_wait(BACKTESTS_TASKS, wrong_type, partition=1)
                # The same key as the sweep's results: the same partition, ahead of them.
                await producer.send_and_wait(
                    BACKTESTS_RESULTS, b'{"specversion": "1.0"}', key=sweep_id.encode()
                )
            finally:
                await producer.stop()

        asyncio.run(inject())
        assert asyncio.run(submit(bootstrap, SCALE_SPEC, sweep_webhook)) == sweep_id
        state = wait_for_sweep(database_url, sweep_id, timeout_s=300)
        assert (state.status, state.backtests_done, state.tasks_failed) == ("completed", 2100, 0)

        deadline = time.monotonic() + 30
        while True:
            assert main(["dlq", "--bootstrap", bootstrap, "list", "--json"]) == 0
            letters = json.loads(capsys.readouterr().out)
            if len(letters) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        by_origin = {d["original"].rsplit(":", 1)[0]: d for d in letters}
        results_partition = DefaultPartitioner()(sweep_id.encode(), list(range(8)), list(range(8)))
        assert sorted(by_origin) == [
            f"{BACKTESTS_RESULTS}:{results_partition}",  # where all of the sweep's results went too
            f"{BACKTESTS_TASKS}:0",
            f"{BACKTESTS_TASKS}:1",
        ]
        for letter in letters:
            assert letter["reason"] == failures.UNDECODABLE
            assert letter["attempts"] == 1
            assert letter["error_class"] == "UndecodableMessage"
        assert "not a CloudEvents envelope" in by_origin[f"{BACKTESTS_TASKS}:0"]["error"]
        assert "does not belong on backtests.tasks" in by_origin[f"{BACKTESTS_TASKS}:1"]["error"]
        assert by_origin[f"{BACKTESTS_TASKS}:1"]["ce_id"] == "misrouted"
        assert asyncio.run(topic_events(bootstrap, BACKTESTS_TASKS + ".retry")) == []

        # The dead-letter gauge of the aggregator counts its DLQ (the watchdog refreshes it).
        aggregator = stack.processes.get("aggregator").health_url.replace("/readyz", "")
        metric = 'zixly_dead_letter_messages{topic="backtests.results.dlq"} 1.0'
        deadline = time.monotonic() + 30
        while metric not in httpx.get(f"{aggregator}/metrics", timeout=5).text:
            assert time.monotonic() < deadline, "the DLQ gauge never showed the dead letter"
            time.sleep(0.5)

        # No broker: liveness stays 200 (a Kafka outage must not restart every pod), readiness 503.
        stack.processes.get("kafka").kill(signal.SIGKILL)
        backtester = stack.processes.get("backtester-1").health_url.replace("/readyz", "")
        deadline = time.monotonic() + 30
        while httpx.get(f"{backtester}/readyz", timeout=10).status_code != 503:
            assert time.monotonic() < deadline, "readiness did not notice the broker was gone"
            time.sleep(0.5)
        assert httpx.get(f"{backtester}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{aggregator}/healthz", timeout=5).status_code == 200
