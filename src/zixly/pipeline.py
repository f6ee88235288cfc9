"""Driving the pipeline from the outside, for benchmarks and failure tests.

``submit`` puts a ``SweepRequested`` on ``sweeps.requested`` exactly as ingest would after accepting a
webhook (same deterministic ids), without HTTP; the read-model helpers read what the aggregator wrote.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from zixly_contracts import ids
from zixly_contracts.envelope import CONTENT_TYPE, Envelope, decode, encode, envelope
from zixly_contracts.events import SweepFailed, SweepRequested
from zixly_contracts.sweep_spec import SweepSpec
from zixly_contracts.topics import SWEEPS_LIFECYCLE, SWEEPS_REQUESTED

SOURCE = "cli"

#: The sweep of the failure tests and the scale benchmark: 2,100 backtests (135 tasks) on three real
#: daily series.
SCALE_SPEC: dict[str, Any] = {
    "name": "scale",
    "datasets": [
        {"symbol": "MSFT_1d", "periods_per_year": 252},
        {"symbol": "SPX_1d", "periods_per_year": 252},
        {"symbol": "IXIC_1d", "periods_per_year": 252},
    ],
    "strategies": [
        {
            "name": "sma_cross",
            "grid": {
                "fast": {"start": 5, "stop": 100, "step": 5},
                "slow": {"start": 20, "stop": 400, "step": 10},
            },
            "constraints": [{"left": "fast", "op": "<", "right": "slow"}],
        }
    ],
    "execution": {"cash": 10000, "fill": "next_open", "units": "fractional", "fee_bps": 1.0},
    "batch_size": 16,
}


async def submit(bootstrap: str, spec: dict[str, Any], webhook_id: str) -> str:
    """Publish ``spec`` as webhook ``webhook_id`` of the ``cli`` source would be; return the sweep id."""
    sweep_id = ids.sweep_id(SOURCE, webhook_id)
    event = envelope(
        SweepRequested(
            sweep_id=sweep_id, source=SOURCE, webhook_id=webhook_id, spec=SweepSpec.model_validate(spec)
        ),
        id=ids.event_id(sweep_id, "sweep.requested"),
        source="/zixly/cli",
        subject=sweep_id,
        correlation_id=webhook_id,
        causation_id=webhook_id,
        time=datetime.now(UTC),
    )
    await publish(bootstrap, SWEEPS_REQUESTED, [event])
    return sweep_id


async def publish(bootstrap: str, topic: str, events: list[Envelope[Any]]) -> None:
    """Publish ``events`` to ``topic`` as the services do (keyed by subject, acks=all), in order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                topic,
                encode(event),
                key=event.subject.encode(),
                headers=[("content-type", CONTENT_TYPE.encode())],
            )
    finally:
        await producer.stop()


#: Why a sweep the read model still held as in flight is failed when the embedded stack starts again.
INTERRUPTED_REASON = (
    "interrupted: the local stack's broker keeps no state across restarts; submit again (with a new "
    "webhook id)"
)
IN_FLIGHT_SQL = (
    "SELECT sweep_id, correlation_id FROM sweeps WHERE status IN ('requested', 'running') "
    "ORDER BY requested_at NULLS LAST, sweep_id"
)


async def fail_interrupted_sweeps(
    bootstrap: str, database_url: str, schema: str = "public", timeout_s: float = 60.0
) -> list[str]:
    """Fail every sweep the read model holds as in flight; return their ids once the read model says so.

    For the embedded stack, whose broker keeps its topics in memory: after a restart the tasks and
    results of a sweep that was in flight are gone, so it would stay ``running`` forever. The read
    model keeps the sweep's symbols and strategy names but not its grids or execution settings, so the
    request cannot be rebuilt and published again. The sweep is failed the way the planner fails one
    it cannot plan: a ``SweepFailed`` on ``sweeps.lifecycle`` that the aggregator projects.
    """
    in_flight = await query(database_url, IN_FLIGHT_SQL, schema)
    if not in_flight:
        return []
    failed = [row["sweep_id"] for row in in_flight]
    await publish(
        bootstrap,
        SWEEPS_LIFECYCLE,
        [
            envelope(
                SweepFailed(sweep_id=row["sweep_id"], reason=INTERRUPTED_REASON),
                id=ids.event_id(row["sweep_id"], "sweep.interrupted"),
                source="/zixly/stack",
                subject=row["sweep_id"],
                correlation_id=row["correlation_id"] or row["sweep_id"],
                time=datetime.now(UTC),
            )
            for row in in_flight
        ],
    )
    deadline = time.monotonic() + timeout_s
    while still := {r["sweep_id"] for r in await query(database_url, IN_FLIGHT_SQL, schema)} & set(failed):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the aggregator did not record sweeps {sorted(still)} as failed")
        await asyncio.sleep(0.2)
    return failed


async def query(database_url: str, sql: str, schema: str = "public", **params: Any) -> list[dict[str, Any]]:
    engine = create_async_engine(database_url, connect_args={"server_settings": {"search_path": schema}})
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(sql), params)).mappings().all()
            return [dict(r) for r in rows]
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class SweepState:
    status: str | None
    task_count: int | None
    backtest_count: int | None
    tasks_done: int
    tasks_failed: int
    backtests_done: int


SWEEP_STATE_SQL = (
    "SELECT status, task_count, backtest_count, tasks_done, tasks_failed, backtests_done "
    "FROM sweeps WHERE sweep_id = :sweep_id"
)


async def sweep_state(database_url: str, sweep_id: str, schema: str = "public") -> SweepState | None:
    try:
        rows = await query(database_url, SWEEP_STATE_SQL, schema, sweep_id=sweep_id)
    except OSError:
        return None  # the database is away
    return SweepState(**rows[0]) if rows else None


def wait_for_sweep(
    database_url: str, sweep_id: str, *, timeout_s: float, until: tuple[str, ...] = ("completed", "failed")
) -> SweepState:
    return asyncio.run(_wait_for_sweep(database_url, sweep_id, timeout_s=timeout_s, until=until))


async def _wait_for_sweep(
    database_url: str, sweep_id: str, *, timeout_s: float, until: tuple[str, ...]
) -> SweepState:
    """Poll on one pooled connection: a new engine and connection every 0.1 s (a forked backend each)
    cost the 2-core benchmark machine CPU that the system under test was measured without."""
    engine = create_async_engine(database_url, pool_pre_ping=True, pool_size=1)
    deadline = time.monotonic() + timeout_s
    state = None
    try:
        while time.monotonic() < deadline:
            try:
                async with engine.connect() as conn:
                    row = (
                        (await conn.execute(text(SWEEP_STATE_SQL), {"sweep_id": sweep_id})).mappings().first()
                    )
                state = SweepState(**row) if row else None
            except Exception:  # noqa: BLE001 - the database may be restarting
                state = None
            if state is not None and state.status in until:
                return state
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
    raise TimeoutError(f"sweep {sweep_id} not {'/'.join(until)} within {timeout_s:.0f} s (last: {state})")


RESULT_COLUMNS = (
    "dataset, strategy, params_key, total_return, cagr, annual_volatility, sharpe, sortino, calmar, "
    "max_drawdown, max_drawdown_bars, max_drawdown_days, exposure, closed_trades, open_trades, win_rate, "
    "profit_factor, avg_trade, expectancy, sqn, final_equity"
)


async def results_by_params(
    database_url: str, sweep_id: str, schema: str = "public"
) -> dict[tuple[str, ...], tuple]:
    """The sweep's results, (dataset, strategy, params) → every metric, for comparing two runs."""
    rows = await query(
        database_url,
        f"SELECT {RESULT_COLUMNS} FROM results WHERE sweep_id = :s",  # noqa: S608 - constant columns
        schema,
        s=sweep_id,
    )
    return {(r["dataset"], r["strategy"], r["params_key"]): tuple(r.values())[3:] for r in rows}


async def topic_events(bootstrap: str, topic: str) -> list[Envelope[Any]]:
    """Every event on ``topic`` from the beginning (no consumer group)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        events = []
        while batches := await consumer.getmany(timeout_ms=1500):
            events += [decode(m.value) for msgs in batches.values() for m in msgs]
        return events
    finally:
        await consumer.stop()
