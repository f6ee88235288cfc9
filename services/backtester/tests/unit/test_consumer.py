"""The backtester app built by its composition root, driven through FastStream's in-memory broker."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from zixly_backtester.bootstrap import build
from zixly_backtester.config import Settings
from zixly_contracts import ids
from zixly_contracts.envelope import decode, encode, envelope
from zixly_contracts.events import (
    BacktestBatchCompleted,
    BacktestBatchFailed,
    RunBacktestBatch,
    SweepRequested,
)
from zixly_contracts.sweep_spec import DatasetRef, Execution, SweepSpec
from zixly_contracts.topics import BACKTESTS_RESULTS, BACKTESTS_TASKS, SWEEPS_REQUESTED, dead_letter_topic

DATA = Path(__file__).resolve().parents[4] / "data"


@pytest.fixture
def app(tmp_path: Path):
    (tmp_path / "datasets").mkdir()
    shutil.copy(DATA / "GOOG_1d.csv", tmp_path / "datasets" / "GOOG_1d.csv")
    return build(Settings(object_store_url=tmp_path.as_uri(), backtester_batch_size=2))


def task_event(symbol: str = "GOOG_1d", params: list | None = None, execution: Execution | None = None):
    sweep = "sweep-1"
    task = RunBacktestBatch(
        task_id=ids.task_id(sweep, symbol, "sma_cross", 0),
        sweep_id=sweep,
        dataset=DatasetRef(symbol=symbol, periods_per_year=252),
        strategy="sma_cross",
        batch_index=0,
        param_sets=params or [{"fast": 10, "slow": 20}, {"fast": 20, "slow": 50}],
        execution=execution or Execution(fill="close", units="whole"),
    )
    return envelope(task, id="cmd-1", source="/test", subject=sweep, correlation_id="msg_1")


async def test_a_task_yields_its_results_keyed_by_sweep(app, tmp_path):
    seen: list = []
    broker = app.broker

    @broker.subscriber(BACKTESTS_RESULTS)
    async def results(body: bytes) -> None:
        seen.append(decode(body))

    async with TestKafkaBroker(broker) as br:
        await br.publish(encode(task_event()), BACKTESTS_TASKS, key=b"t")
    assert len(seen) == 1
    event = seen[0]
    assert isinstance(event.data, BacktestBatchCompleted)
    assert event.id == ids.event_id(event.data.task_id, "result")
    assert event.correlation_id == "msg_1"
    assert event.causation_id == "cmd-1"
    returns = {(r.params["fast"], r.params["slow"]): r.metrics.total_return for r in event.data.results}
    assert returns[(10, 20)] == pytest.approx(6.192492, abs=1e-6)
    assert returns[(20, 50)] == pytest.approx(1.842073, abs=1e-6)
    artifact = tmp_path / "results" / "sweep-1" / f"{event.data.task_id}.parquet"
    assert event.data.artifact_uri == artifact.as_uri()
    import pyarrow.parquet as pq

    table = pq.read_table(artifact)
    assert table.num_rows == 2 * event.data.bars == 2 * 2148
    assert json.loads(table.schema.metadata[b"zixly.param_sets"]) == [
        {"fast": 10, "slow": 20},
        {"fast": 20, "slow": 50},
    ]


async def test_a_missing_dataset_fails_the_task_instead_of_retrying(app):
    seen: list = []

    @app.broker.subscriber(BACKTESTS_RESULTS)
    async def results(body: bytes) -> None:
        seen.append(decode(body))

    async with TestKafkaBroker(app.broker) as br:
        await br.publish(encode(task_event(symbol="NOPE")), BACKTESTS_TASKS)
    assert len(seen) == 1
    assert isinstance(seen[0].data, BacktestBatchFailed)
    assert seen[0].data.error_type == "DatasetNotFound"
    assert "NOPE" in seen[0].data.error


async def test_poison_goes_to_the_dead_letter_topic_with_its_origin(app):
    dead: list = []

    @app.broker.subscriber(dead_letter_topic(BACKTESTS_TASKS))
    async def dlq(msg: KafkaMessage) -> None:
        dead.append((msg.body, msg.headers))

    async with TestKafkaBroker(app.broker) as br:
        await br.publish(b'{"not": "an event"}', BACKTESTS_TASKS)
    assert len(dead) == 1
    body, headers = dead[0]
    assert body == b'{"not": "an event"}'
    assert headers["x-original-topic"] == BACKTESTS_TASKS
    assert headers["x-error-class"] == "UndecodableMessage"


async def test_a_request_is_planned_into_tasks_and_a_plan(app):
    lifecycle: list = []
    results: list = []

    spec = SweepSpec.model_validate(
        {
            "datasets": [{"symbol": "GOOG_1d", "periods_per_year": 252}],
            "strategies": [
                {
                    "name": "sma_cross",
                    "grid": {"fast": [10, 20, 50], "slow": [20, 50, 200]},
                    "constraints": [{"left": "fast", "op": "<", "right": "slow"}],
                }
            ],
        }
    )
    sweep_id = ids.sweep_id("cli", "msg_9")
    request = envelope(
        SweepRequested(sweep_id=sweep_id, source="cli", webhook_id="msg_9", spec=spec),
        id="req-1",
        source="/test",
        subject=sweep_id,
        correlation_id="msg_9",
    )

    @app.broker.subscriber("sweeps.lifecycle")
    async def on_lifecycle(body: bytes) -> None:
        lifecycle.append(decode(body))

    @app.broker.subscriber(BACKTESTS_RESULTS)
    async def on_result(body: bytes) -> None:
        results.append(decode(body))

    async with TestKafkaBroker(app.broker) as br:
        await br.publish(encode(request), SWEEPS_REQUESTED)
    planned = lifecycle[0].data
    assert planned.task_count == 4  # 6 SMA sets in batches of 2 + the buy-and-hold baseline
    assert planned.backtest_count == 7
    assert planned.strategies == ["sma_cross", "buy_and_hold"]
    assert lifecycle[0].id == ids.event_id(sweep_id, "sweep.planned")
    # The planned tasks were consumed by the same app's worker: every task reported once.
    assert sorted(r.data.task_id for r in results) == sorted(
        [ids.task_id(sweep_id, "GOOG_1d", "sma_cross", i) for i in range(3)]
        + [ids.task_id(sweep_id, "GOOG_1d", "buy_and_hold", 0)]
    )
    assert sum(len(r.data.results) for r in results) == 7


async def test_absurd_cash_fails_the_task_instead_of_retrying_it(app):
    """Cash of 1e308 would overflow equity: a fact about the input, so the task fails at once."""
    seen: list = []

    @app.broker.subscriber(BACKTESTS_RESULTS)
    async def results(body: bytes) -> None:
        seen.append(decode(body))

    async with TestKafkaBroker(app.broker) as br:
        await br.publish(encode(task_event(execution=Execution(cash=1e308, fill="close"))), BACKTESTS_TASKS)
    assert len(seen) == 1
    assert isinstance(seen[0].data, BacktestBatchFailed)
    assert seen[0].data.error_type == "ValueError"
    assert "cash must be positive and at most 1e+15" in seen[0].data.error


async def test_a_sweep_over_a_missing_dataset_fails_before_anything_is_planned(app):
    lifecycle: list = []
    spec = SweepSpec.model_validate(
        {
            "datasets": [{"symbol": "NOPE_1d", "periods_per_year": 252}],
            "strategies": [{"name": "buy_and_hold"}],
        }
    )
    request = envelope(
        SweepRequested(sweep_id="s-missing", source="cli", webhook_id="w", spec=spec),
        id="req-2",
        source="/test",
        subject="s-missing",
        correlation_id="w",
    )

    @app.broker.subscriber("sweeps.lifecycle")
    async def on_lifecycle(body: bytes) -> None:
        lifecycle.append(decode(body))

    async with TestKafkaBroker(app.broker) as br:
        await br.publish(encode(request), SWEEPS_REQUESTED)
    assert [e.type for e in lifecycle] == ["com.zixly.sweep.failed"]
    assert "dataset 'NOPE_1d'" in lifecycle[0].data.reason
