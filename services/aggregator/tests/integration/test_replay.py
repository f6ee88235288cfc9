"""``replay`` over a real log with v1 and v2 result events, a duplicate and poison → the right rows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from zixly_aggregator.bootstrap import replay
from zixly_aggregator.config import Settings
from zixly_contracts import ids
from zixly_contracts.envelope import encode, envelope
from zixly_contracts.events import BacktestBatchCompleted, BacktestResult, SweepPlanned
from zixly_contracts.metrics import Metrics
from zixly_contracts.topics import BACKTESTS_RESULTS, SWEEPS_LIFECYCLE

pytestmark = pytest.mark.integration

SWEEP = "sweep-replay-1"


def completed(index: int, worker: str | None) -> BacktestBatchCompleted:
    task = ids.task_id(SWEEP, "GOOG_1d", "sma_cross", index)
    return BacktestBatchCompleted(
        task_id=task,
        sweep_id=SWEEP,
        dataset="GOOG_1d",
        strategy="sma_cross",
        batch_index=index,
        results=[
            BacktestResult(
                params={"fast": 10 + index, "slow": 50},
                metrics=Metrics(total_return=0.1 * (index + 1), sharpe=0.5 + index, final_equity=1.0),
            )
        ],
        artifact_uri=f"file:///results/{task}.parquet",
        definitions={"fill": "close"},
        bars=100,
        duration_ms=5.0,
        worker=worker,
        engine_ms=1.0 if worker else None,
    )


def wrap(data: Any, event_id: str) -> bytes:
    return encode(envelope(data, id=event_id, source="/test", subject=SWEEP, correlation_id="msg_r"))


def as_v1(raw: bytes) -> bytes:
    doc = json.loads(raw)
    doc["schema_version"] = 1
    doc["data"].pop("worker")
    doc["data"].pop("engine_ms")
    return json.dumps(doc).encode()


async def rows(url: str, schema: str, sql: str) -> list[dict[str, Any]]:
    engine = create_async_engine(url, connect_args={"server_settings": {"search_path": schema}})
    try:
        async with engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(text(sql))).mappings().all()]
    finally:
        await engine.dispose()


async def test_replay_reads_v1_and_v2_events_into_the_same_read_model(kafka_bootstrap, database_url):
    planned = SweepPlanned(
        sweep_id=SWEEP,
        name="mixed",
        task_count=2,
        backtest_count=2,
        datasets=["GOOG_1d"],
        strategies=["sma_cross"],
    )
    v1 = as_v1(wrap(completed(0, "ignored"), "result-0"))
    v2 = wrap(completed(1, "host-b:42"), "result-1")
    recomputed = wrap(completed(1, "host-c:7"), "result-1-again")  # a duplicate from another replica
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(SWEEPS_LIFECYCLE, wrap(planned, "planned"), key=SWEEP.encode())
        for body in (v1, b"{not json", v2, recomputed):
            await producer.send_and_wait(BACKTESTS_RESULTS, body, key=SWEEP.encode())
    finally:
        await producer.stop()

    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url)
    report = await replay(settings, "replay_mixed")
    assert (report.read, report.skipped) == (5, 1)
    assert report.projected == 4  # the recomputed task is a new event id, absorbed by the task's key
    tasks = await rows(
        database_url, "replay_mixed", "SELECT batch_index, worker, engine_ms FROM tasks ORDER BY 1"
    )
    assert tasks == [
        {"batch_index": 0, "worker": None, "engine_ms": None},  # v1: upcast, nothing to record
        {"batch_index": 1, "worker": "host-b:42", "engine_ms": 1.0},  # v2: the first computation wins
    ]
    sweep = (await rows(database_url, "replay_mixed", "SELECT * FROM sweeps"))[0]
    assert (sweep["status"], sweep["tasks_done"], sweep["backtests_done"]) == ("completed", 2, 2)
    results = await rows(database_url, "replay_mixed", "SELECT params_key, sharpe FROM results ORDER BY 1")
    assert results == [
        {"params_key": '{"fast":10,"slow":50}', "sharpe": 0.5},
        {"params_key": '{"fast":11,"slow":50}', "sharpe": 1.5},
    ]
    outbox = await rows(
        database_url, "replay_mixed", "SELECT event_id, published_at IS NOT NULL AS sent FROM outbox"
    )
    assert outbox == [{"event_id": ids.event_id(SWEEP, "sweep.completed"), "sent": True}]
    # The live schema was not touched.
    assert await rows(database_url, "public", "SELECT * FROM tasks WHERE sweep_id = 'sweep-replay-1'") == []

    with pytest.raises(ValueError, match="already has tables"):
        await replay(settings, "replay_mixed")
    again = await replay(settings, "replay_mixed", replace=True)
    assert again.projected == 4
    with pytest.raises(ValueError, match="plain schema name"):
        await replay(settings, 'x"; drop table sweeps; --')


@pytest.mark.parametrize("schema", ["pg_catalog", "pg_toast", "information_schema"])
async def test_replay_refuses_postgresql_system_schemas(database_url, schema):
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1", database_url=database_url)
    with pytest.raises(ValueError, match=f"^'{schema}' is a PostgreSQL system schema$"):
        await replay(settings, schema, replace=True)


async def test_replace_drops_only_a_schema_of_read_models(database_url):
    # Ingest's dedupe schema (migrated by the fixture) holds `deliveries`: never the replay's to drop.
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1", database_url=database_url)
    with pytest.raises(ValueError) as refused:
        await replay(settings, "ingest", replace=True)
    assert str(refused.value) == (
        "refusing to drop schema 'ingest': it holds tables that are not read models (deliveries)"
    )
    assert await rows(database_url, "ingest", "SELECT count(*) AS n FROM deliveries") == [{"n": 0}]
