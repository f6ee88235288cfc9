"""Aggregator benchmark: the CPU the projection spends on one result event of 256 backtests.

    uv run python benchmarks/bench_aggregator.py [--events N] [--database-url URL] [--profile [SORT]]

The event is a real one: 256 parameter sets of ``sma_cross`` backtested on ``data/GOOG_1d.csv`` by the
backtester's engine, in the envelope the backtester publishes. Each stage runs over ``--events``
distinct copies of it (their own event and task ids, so every projection inserts its rows), into a
throwaway schema of the PostgreSQL at ``--database-url`` (dropped afterwards).

Prints one JSON line per stage: ``{"stage", "events", "cpu_ms_per_event", "cpu_us_per_row"}``, the
CPU time of this process (``time.process_time``: the database's own CPU is not counted). Stages:
``decode`` (bytes to the validated envelope), ``rows`` (the parameters of the results insert),
``project`` (the whole transaction: claim, task row, results, sweep counts, commit) and ``total``
(decode and project). ``--profile`` prints the top of a CPU-time cProfile of decode + project afterwards,
sorted by own time (or ``cumulative``).

This is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import pstats
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from zixly_aggregator.adapters.migrations import upgrade
from zixly_aggregator.adapters.postgres import PostgresProjectionStore, make_engine, result_rows
from zixly_aggregator.service_layer.handlers import project
from zixly_backtester.domain.bars import load_bars
from zixly_backtester.domain.engine import ExecutionSettings, run_batch
from zixly_contracts import ids
from zixly_contracts.envelope import Envelope, decode, encode, envelope
from zixly_contracts.events import BacktestBatchCompleted, BacktestResult, SweepPlanned
from zixly_contracts.metrics import Metrics
from zixly_runtime.heap import freeze_startup_heap

ROOT = Path(__file__).resolve().parents[1]
DATASET = "GOOG_1d"
SETS = 256


def param_sets() -> list[dict[str, int]]:
    """256 SMA crossovers: fast 2–33 by 1 and slow 40–215 by 25."""
    return [{"fast": fast, "slow": slow} for fast in range(2, 34) for slow in range(40, 240, 25)]


def results() -> list[BacktestResult]:
    bars = load_bars(ROOT / "data" / f"{DATASET}.csv")
    sets = param_sets()[:SETS]
    batch = run_batch(bars, "sma_cross", sets, ExecutionSettings(fill="close", units="whole"))
    return [
        BacktestResult(params=params, metrics=Metrics.model_validate(metrics))
        for params, metrics in zip(sets, batch.metrics, strict=True)
    ]


def result_event(sweep_id: str, index: int, rows: list[BacktestResult]) -> bytes:
    task_id = ids.task_id(sweep_id, DATASET, "sma_cross", index)
    data = BacktestBatchCompleted(
        task_id=task_id,
        sweep_id=sweep_id,
        dataset=DATASET,
        strategy="sma_cross",
        batch_index=index,
        results=rows,
        artifact_uri=f"file:///results/{sweep_id}/{task_id}.parquet",
        definitions=ExecutionSettings(fill="close", units="whole").definitions(),
        bars=5000,
        duration_ms=120.0,
        worker="bench:1",
        engine_ms=100.0,
    )
    event_id = ids.event_id(task_id, "result")
    return encode(envelope(data, id=event_id, source="/bench", subject=task_id, correlation_id="b"))


def planned(sweep_id: str, tasks: int) -> Envelope[Any]:
    data = SweepPlanned(
        sweep_id=sweep_id,
        name="bench",
        task_count=tasks + 1,  # never complete: every event measured is an ordinary one
        backtest_count=(tasks + 1) * SETS,
        datasets=[DATASET],
        strategies=["sma_cross"],
    )
    event_id = ids.event_id(sweep_id, "plan")
    return envelope(data, id=event_id, source="/bench", subject=sweep_id, correlation_id="b")


class NoOutbox:
    async def flush(self) -> int:
        return 0


def line(stage: str, events: int, cpu_s: float) -> None:
    per_event_ms = cpu_s * 1000 / events
    print(
        json.dumps(
            {
                "stage": stage,
                "events": events,
                "cpu_ms_per_event": round(per_event_ms, 3),
                "cpu_us_per_row": round(per_event_ms * 1000 / SETS, 2),
            }
        ),
        flush=True,
    )


def decode_all(raws: Iterable[bytes]) -> None:
    for raw in raws:
        decode(raw)


def rows_of_all(events: Iterable[Envelope[Any]]) -> None:
    for event in events:
        result_rows(event.data)


def cpu_of(work: Callable[[], None]) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


async def acpu_of(work: Callable[[], Awaitable[None]]) -> float:
    started = time.process_time()
    await work()
    return time.process_time() - started


async def project_all(events: Iterable[Envelope[Any]], store: PostgresProjectionStore) -> None:
    for event in events:
        await project(event, store=store, outbox=NoOutbox())


async def decode_and_project_all(raws: Iterable[bytes], store: PostgresProjectionStore) -> None:
    for raw in raws:
        await project(decode(raw), store=store, outbox=NoOutbox())


def batch_of(rows: list[BacktestResult], count: int) -> tuple[str, list[bytes]]:
    sweep_id = f"sweep-{uuid.uuid4().hex[:12]}"
    return sweep_id, [result_event(sweep_id, i, rows) for i in range(count)]


async def run(database_url: str, count: int, profile: str | None) -> None:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(upgrade, database_url, schema=schema)
    engine = make_engine(database_url, schema=schema)
    store = PostgresProjectionStore(engine)
    try:
        rows = results()
        sweep_id, raws = batch_of(rows, count)
        decode(raws[0])  # warm-up: the first decode builds the envelope's validator
        freeze_startup_heap(10_000, 10, 10)  # the collector as the service sets it before it serves
        line("decode", count, cpu_of(lambda: decode_all(raws)))
        events = [decode(raw) for raw in raws]
        # The decoded events stay alive for the next stages: kept out of the collector's scans, which
        # would otherwise grow with them (the service holds one event at a time).
        gc.collect()
        gc.freeze()
        line("rows", count, cpu_of(lambda: rows_of_all(events)))
        await project(planned(sweep_id, count), store=store, outbox=NoOutbox())
        line("project", count, await acpu_of(lambda: project_all(events, store)))
        sweep_id, raws = batch_of(rows, count)
        await project(planned(sweep_id, count), store=store, outbox=NoOutbox())
        line("total", count, await acpu_of(lambda: decode_and_project_all(raws, store)))
        if profile:
            sweep_id, raws = batch_of(rows, count)
            await project(planned(sweep_id, count), store=store, outbox=NoOutbox())
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            await decode_and_project_all(raws, store)
            profiler.disable()
            pstats.Stats(profiler).sort_stats(profile).print_stats(45)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--profile", nargs="?", const="tottime", choices=["tottime", "cumulative"])
    args = parser.parse_args()
    asyncio.run(run(args.database_url, args.events, args.profile))


if __name__ == "__main__":
    main()
