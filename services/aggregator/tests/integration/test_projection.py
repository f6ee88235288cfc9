"""The projection on a real PostgreSQL: exactly-once effect, completion announced once, via the outbox."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from zixly_aggregator.adapters.postgres import PostgresProjectionStore, make_engine
from zixly_aggregator.adapters.tables import outbox, processed_events, results, sweeps, tasks
from zixly_aggregator.service_layer.handlers import project
from zixly_contracts import ids
from zixly_contracts.envelope import Envelope, decode, envelope
from zixly_contracts.events import (
    BacktestBatchCompleted,
    BacktestBatchFailed,
    BacktestResult,
    SweepCompleted,
    SweepFailed,
    SweepPlanned,
)
from zixly_contracts.metrics import Metrics

pytestmark = pytest.mark.integration


class FakeOutbox:
    """Reads the real outbox table, publishing nowhere: what would have been announced."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.flushes = 0

    async def flush(self) -> int:
        self.flushes += 1
        return 0

    async def announced(self) -> list[Envelope[Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(outbox.c.payload).order_by(outbox.c.seq))).all()
        return [decode(row.payload) for row in rows]


@pytest.fixture
async def engine(database_url: str):
    engine = make_engine(database_url)
    async with engine.begin() as conn:
        for table in (outbox, processed_events, results, tasks, sweeps):
            await conn.execute(table.delete())
    yield engine
    await engine.dispose()


def wrap(data: Any, subject: str, kind: str) -> Envelope[Any]:
    return envelope(
        data, id=ids.event_id(subject, kind), source="/test", subject=data.sweep_id, correlation_id="msg_1"
    )


def planned(sweep_id: str, tasks_: int, backtests: int) -> Envelope[Any]:
    return wrap(
        SweepPlanned(
            sweep_id=sweep_id,
            name="s",
            task_count=tasks_,
            backtest_count=backtests,
            datasets=["GOOG_1d"],
            strategies=["sma_cross"],
        ),
        sweep_id,
        "sweep.planned",
    )


def completed(sweep_id: str, index: int, returns: list[float]) -> Envelope[Any]:
    return task_result(
        sweep_id,
        index,
        [
            BacktestResult(
                params={"fast": index * 10 + i, "slow": 50},
                metrics=Metrics(total_return=r, sharpe=r / 2, final_equity=10_000 * (1 + r)),
            )
            for i, r in enumerate(returns)
        ],
    )


def task_result(sweep_id: str, index: int, results_: list[BacktestResult]) -> Envelope[Any]:
    """The result event of task ``index`` of ``sweep_id`` (sma_cross on GOOG_1d) holding ``results_``."""
    task = ids.task_id(sweep_id, "GOOG_1d", "sma_cross", index)
    return wrap(
        BacktestBatchCompleted(
            task_id=task,
            sweep_id=sweep_id,
            dataset="GOOG_1d",
            strategy="sma_cross",
            batch_index=index,
            results=results_,
            artifact_uri=f"file:///results/{task}.parquet",
            definitions={"fill": "close"},
            bars=100,
            duration_ms=1.0,
        ),
        task,
        "result",
    )


async def count(engine: AsyncEngine, table, **where: str) -> int:
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def sweep_row(engine: AsyncEngine, sweep_id: str):
    async with engine.connect() as conn:
        return (await conn.execute(select(sweeps).where(sweeps.c.sweep_id == sweep_id))).one()


async def test_results_before_the_plan_complete_the_sweep_once(engine):
    store, box = PostgresProjectionStore(engine), FakeOutbox(engine)
    sweep = "sweep-a"
    first, second = completed(sweep, 0, [0.5, 1.5]), completed(sweep, 1, [0.25])
    assert await project(first, store=store, outbox=box)
    assert await project(second, store=store, outbox=box)
    assert (await sweep_row(engine, sweep)).status == "running"  # no plan yet: cannot be complete
    assert await project(planned(sweep, 2, 3), store=store, outbox=box)

    row = await sweep_row(engine, sweep)
    assert (row.status, row.tasks_done, row.backtests_done, row.task_count) == ("completed", 2, 3, 2)
    announced = await box.announced()
    assert len(announced) == 1
    assert isinstance(announced[0].data, SweepCompleted)
    assert announced[0].id == ids.event_id(sweep, "sweep.completed")
    assert announced[0].data.best is not None
    assert announced[0].data.best.params == {"fast": 1, "slow": 50}
    assert announced[0].data.best.total_return == 1.5


async def test_result_rows_carry_the_params_and_every_metric(engine):
    store, box = PostgresProjectionStore(engine), FakeOutbox(engine)
    sweep = "sweep-j"
    metrics = [
        Metrics(
            total_return=6.192492,
            cagr=0.1234,
            sharpe=1.5,
            sortino=None,
            max_drawdown=-0.25,
            max_drawdown_bars=120,
            closed_trades=7,
            open_trades=1,
            win_rate=0.5,
            final_equity=71924.92,
        ),
        Metrics(total_return=-0.5, final_equity=5000.0),
    ]
    task = ids.task_id(sweep, "GOOG_1d", "sma_cross", 0)
    event = task_result(
        sweep,
        0,
        [
            BacktestResult(params={"slow": 20, "fast": 10}, metrics=metrics[0]),
            BacktestResult(params={"fast": 2.5, "slow": 50}, metrics=metrics[1]),
        ],
    )
    assert await project(event, store=store, outbox=box)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(results).where(results.c.sweep_id == sweep).order_by(results.c.params_key)
            )
        ).all()
    assert [(r.params_key, r.params, r.task_id, r.dataset) for r in rows] == [
        ('{"fast":10,"slow":20}', {"slow": 20, "fast": 10}, task, "GOOG_1d"),
        ('{"fast":2.5,"slow":50}', {"fast": 2.5, "slow": 50}, task, "GOOG_1d"),
    ]
    assert [Metrics.model_validate({k: getattr(r, k) for k in Metrics.model_fields}) for r in rows] == metrics


async def test_duplicates_and_replays_change_nothing(engine):
    store, box = PostgresProjectionStore(engine), FakeOutbox(engine)
    sweep = "sweep-b"
    events = [planned(sweep, 2, 3), completed(sweep, 0, [0.1, 0.2]), completed(sweep, 1, [0.3])]
    for event in events:
        assert await project(event, store=store, outbox=box)
    before = (await count(engine, results, sweep_id=sweep), await sweep_row(engine, sweep))
    for event in [*events, *reversed(events)]:
        assert not await project(event, store=store, outbox=box)
    after = (await count(engine, results, sweep_id=sweep), await sweep_row(engine, sweep))
    assert before == after
    assert before[0] == 3
    assert len(await box.announced()) == 1


async def test_a_recomputed_task_under_a_new_event_id_is_absorbed(engine):
    """A task redelivered to another replica yields the same task id: its rows are not doubled."""
    store, box = PostgresProjectionStore(engine), FakeOutbox(engine)
    sweep = "sweep-c"
    await project(planned(sweep, 2, 2), store=store, outbox=box)
    await project(completed(sweep, 0, [0.1]), store=store, outbox=box)
    again = completed(sweep, 0, [0.1]).model_copy(update={"id": "another-event-id"})
    assert await project(again, store=store, outbox=box)
    row = await sweep_row(engine, sweep)
    assert (row.tasks_done, row.backtests_done, row.status) == (1, 1, "running")


def failed_task(sweep_id: str, index: int, dataset: str = "NOPE") -> Envelope[Any]:
    task = ids.task_id(sweep_id, dataset, "sma_cross", index)
    return wrap(
        BacktestBatchFailed(
            task_id=task,
            sweep_id=sweep_id,
            dataset=dataset,
            strategy="sma_cross",
            batch_index=index,
            backtests=4,
            error_type="DatasetNotFound",
            error=f"no dataset named {dataset!r}",
        ),
        task,
        "result",
    )


async def test_failed_tasks_count_toward_completion(engine):
    store, box = PostgresProjectionStore(engine), FakeOutbox(engine)
    sweep = "sweep-d"
    await project(planned(sweep, 2, 5), store=store, outbox=box)
    await project(failed_task(sweep, 0), store=store, outbox=box)
    await project(completed(sweep, 1, [0.2]), store=store, outbox=box)
    row = await sweep_row(engine, sweep)
    assert (row.status, row.tasks_done, row.tasks_failed, row.failure_reason) == ("completed", 1, 1, None)
    assert (await box.announced())[0].data.failed_task_count == 1


async def test_a_sweep_whose_every_task_failed_fails_and_is_announced_once(engine):
    store, box = PostgresProjectionStore(engine), FakeOutbox(engine)
    sweep = "sweep-i"
    events = [failed_task(sweep, 1, "ZZZ"), planned(sweep, 2, 8), failed_task(sweep, 0, "ZZZ")]
    for event in events:
        assert await project(event, store=store, outbox=box)
    row = await sweep_row(engine, sweep)
    reason = "every task failed (2 of 2); the first: DatasetNotFound: no dataset named 'ZZZ'"
    assert (row.status, row.tasks_done, row.tasks_failed, row.backtests_done) == ("failed", 0, 2, 0)
    assert row.failure_reason == reason
    assert row.completed_at == events[2].time  # when the last task reported
    announced = await box.announced()
    assert [type(a.data) for a in announced] == [SweepFailed]
    assert announced[0].id == ids.event_id(sweep, "sweep.failed")
    assert (announced[0].data.reason, announced[0].time) == (reason, events[2].time)
    assert box.flushes == 1  # only the event that announced sent the outbox on

    # Redeliveries, and the announcement consumed back from sweeps.lifecycle, change nothing.
    for event in events:
        assert not await project(event, store=store, outbox=box)
    assert await project(announced[0], store=store, outbox=box)
    assert await sweep_row(engine, sweep) == row
    assert len(await box.announced()) == 1


async def test_a_failed_sweep_stays_failed(engine):
    store, box = PostgresProjectionStore(engine), FakeOutbox(engine)
    sweep = "sweep-e"
    await project(
        wrap(SweepFailed(sweep_id=sweep, reason="unknown strategy 'x'"), sweep, "sweep.failed"),
        store=store,
        outbox=box,
    )
    await project(planned(sweep, 1, 1), store=store, outbox=box)
    row = await sweep_row(engine, sweep)
    assert (row.status, row.failure_reason) == ("failed", "unknown strategy 'x'")


async def test_concurrent_last_results_announce_once(engine):
    store, box = PostgresProjectionStore(engine), FakeOutbox(engine)
    sweep = "sweep-f"
    await project(planned(sweep, 8, 8), store=store, outbox=box)
    await asyncio.gather(
        *(project(completed(sweep, i, [0.01 * i]), store=store, outbox=box) for i in range(8))
    )
    row = await sweep_row(engine, sweep)
    assert (row.status, row.tasks_done) == ("completed", 8)
    assert len(await box.announced()) == 1


async def test_the_migration_matches_the_tables(database_url: str):
    """Alembic's autogenerate finds nothing to change: tables.py and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from zixly_aggregator.adapters.tables import metadata

    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await engine.dispose()
    assert [d for d in diff if d[0] != "remove_table" or d[1].name != "alembic_version"] == []


async def test_result_records_follow_the_row_type_of_the_results_table(engine):
    """Rows are sent as records of the table's own row type, positionally: its attribute order (the
    order the migrations created the columns in) must be the one the records are built in."""
    from sqlalchemy import text

    from zixly_aggregator.adapters.postgres import RESULT_ROW_COLUMNS

    async with engine.connect() as conn:
        columns = (
            await conn.execute(
                text(
                    "SELECT attname FROM pg_attribute WHERE attrelid = 'results'::regclass "
                    "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
                )
            )
        ).scalars()
        assert tuple(columns) == RESULT_ROW_COLUMNS


async def test_result_values_are_stored_exactly(engine):
    store, box = PostgresProjectionStore(engine), FakeOutbox(engine)
    sweep = "sweep-x"
    # Doubles that a lossy text round trip or a lost sign would change (compared bit for bit below).
    values = [1e-300, 0.1 + 0.2, -0.0, 123456.789012345678, 2.0**53 - 1, 1 + 2**-52]
    event = task_result(
        sweep,
        0,
        [
            BacktestResult(
                params={"fast": i, "slow": v},
                metrics=Metrics(total_return=v, sortino=-v, max_drawdown_bars=2**31 - 1, final_equity=v * 3),
            )
            for i, v in enumerate(values)
        ],
    )
    task = ids.task_id(sweep, "GOOG_1d", "sma_cross", 0)
    assert await project(decode(event.model_dump_json()), store=store, outbox=box)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(results).where(results.c.sweep_id == sweep).order_by(results.c.total_return)
            )
        ).all()
    assert [r.params["slow"] for r in rows] == sorted(values)
    assert [(r.total_return.hex(), r.sortino.hex(), r.final_equity.hex()) for r in rows] == [
        (v.hex(), (-v).hex(), (v * 3).hex()) for v in sorted(values)
    ]
    assert {r.max_drawdown_bars for r in rows} == {2**31 - 1}
    assert {(r.task_id, r.dataset, r.strategy) for r in rows} == {(task, "GOOG_1d", "sma_cross")}


async def test_request_and_plan_give_the_same_row_in_either_order(engine):
    """The two come from different topics: a replay may read them in another order than the live run."""
    from zixly_contracts.events import SweepRequested
    from zixly_contracts.sweep_spec import SweepSpec

    store, box = PostgresProjectionStore(engine), FakeOutbox(engine)
    spec = SweepSpec.model_validate(
        {
            "name": "s",
            "datasets": [{"symbol": "GOOG_1d", "periods_per_year": 252}],
            "strategies": [{"name": "sma_cross"}],
        }
    )
    rows = []
    for sweep, order in (("sweep-g", "request first"), ("sweep-h", "plan first")):
        request = wrap(
            SweepRequested(sweep_id=sweep, source="cli", webhook_id="w", spec=spec), sweep, "sweep.requested"
        )
        plan = SweepPlanned(
            sweep_id=sweep,
            name="s",
            task_count=2,
            backtest_count=2,
            datasets=["GOOG_1d"],
            strategies=["sma_cross", "buy_and_hold"],  # the plan adds the baseline
        )
        events = [request, wrap(plan, sweep, "sweep.planned")]
        for event in events if order == "request first" else reversed(events):
            await project(event, store=store, outbox=box)
        row = await sweep_row(engine, sweep)
        rows.append((row.name, row.datasets, row.strategies, row.status, row.source))
    assert rows[0] == rows[1] == ("s", ["GOOG_1d"], ["sma_cross", "buy_and_hold"], "running", "cli")
