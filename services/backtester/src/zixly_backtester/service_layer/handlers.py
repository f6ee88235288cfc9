"""Use cases: plan a sweep into tasks; run one task and publish its results."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from zixly_backtester.domain.bars import BarsError
from zixly_backtester.domain.engine import ExecutionSettings, run_batch
from zixly_backtester.domain.errors import DatasetNotFound
from zixly_backtester.domain.planning import PlanningError, plan_sweep, task_slot
from zixly_backtester.service_layer.ports import ArtifactStore, DatasetSource, EventPublisher
from zixly_contracts import ids
from zixly_contracts.envelope import Envelope, envelope
from zixly_contracts.events import (
    BacktestBatchCompleted,
    BacktestBatchFailed,
    BacktestResult,
    RunBacktestBatch,
    SweepFailed,
    SweepRequested,
)
from zixly_contracts.metrics import Metrics
from zixly_contracts.topics import BACKTESTS_RESULTS, BACKTESTS_TASKS, SWEEPS_LIFECYCLE

EVENT_SOURCE = "/zixly/backtester"
#: Errors that are facts about the task: they fail it for good instead of being retried (a pydantic
#: ValidationError of non-finite metrics is a ValueError; overflows are ArithmeticErrors).
TASK_FAILURES: tuple[type[Exception], ...] = (DatasetNotFound, BarsError, ValueError, ArithmeticError)


def _child(parent: Envelope[Any], data: Any, *, kind: str, subject_id: str) -> Envelope[Any]:
    return envelope(
        data,
        id=ids.event_id(subject_id, kind),
        source=EVENT_SOURCE,
        subject=parent.subject,
        correlation_id=parent.correlation_id,
        causation_id=parent.id,
    )


async def plan(
    request: Envelope[SweepRequested],
    *,
    publisher: EventPublisher,
    datasets: DatasetSource,
    batch_size: int,
    max_backtests: int,
) -> int:
    """Publish the sweep's plan, then its tasks; a sweep that cannot be planned fails as a whole.

    Every dataset must exist and parse before anything is planned. Replanning the same request gives
    the same ids, so a redelivered request duplicates nothing downstream. Returns the tasks published.
    """
    sweep = request.data
    try:
        for dataset in sweep.spec.datasets:
            try:
                await datasets.load(dataset.symbol)
            except (DatasetNotFound, BarsError) as exc:
                raise PlanningError(f"dataset {dataset.symbol!r}: {exc}") from exc
        result = plan_sweep(sweep, batch_size=batch_size, max_backtests=max_backtests)
    except PlanningError as exc:
        failed = SweepFailed(sweep_id=sweep.sweep_id, reason=str(exc))
        await publisher.publish(
            SWEEPS_LIFECYCLE,
            _child(request, failed, kind="sweep.failed", subject_id=sweep.sweep_id),
            sweep.sweep_id,
        )
        return 0
    await publisher.publish(
        SWEEPS_LIFECYCLE,
        _child(request, result.planned, kind="sweep.planned", subject_id=sweep.sweep_id),
        sweep.sweep_id,
    )
    for index, task in enumerate(result.tasks):
        await publisher.publish(
            BACKTESTS_TASKS,
            _child(request, task, kind="task", subject_id=task.task_id),
            task.task_id,
            slot=task_slot(sweep.sweep_id, index),
        )
    return len(result.tasks)


def execution_settings(task: RunBacktestBatch) -> ExecutionSettings:
    return ExecutionSettings.from_execution(task.execution, task.dataset.periods_per_year)


async def run_task(
    command: Envelope[RunBacktestBatch],
    *,
    datasets: DatasetSource,
    artifacts: ArtifactStore,
    publisher: EventPublisher,
    worker: str | None = None,
) -> BacktestBatchCompleted | BacktestBatchFailed:
    """Backtest every parameter set of the task, store the equity curves, publish the metrics.

    Deterministic: a redelivered task recomputes bit-identical results under the same event id.
    Infrastructure errors propagate (the task is retried); errors in the input fail the task.
    """
    task = command.data
    started = time.perf_counter()
    outcome: BacktestBatchCompleted | BacktestBatchFailed
    try:
        bars = await datasets.load(task.dataset.symbol)
        settings = execution_settings(task)
        engine_started = time.perf_counter()
        batch = await asyncio.to_thread(run_batch, bars, task.strategy, task.param_sets, settings)
        engine_ms = (time.perf_counter() - engine_started) * 1000
        results = [
            BacktestResult(params=params, metrics=Metrics.model_validate(metrics))
            for params, metrics in zip(task.param_sets, batch.metrics, strict=True)
        ]
    except TASK_FAILURES as exc:
        outcome = BacktestBatchFailed(
            task_id=task.task_id,
            sweep_id=task.sweep_id,
            dataset=task.dataset.symbol,
            strategy=task.strategy,
            batch_index=task.batch_index,
            backtests=len(task.param_sets),
            error_type=type(exc).__name__,
            error=str(exc),
        )
    else:
        uri = await artifacts.save_equity(
            f"results/{task.sweep_id}/{task.task_id}.parquet", bars.timestamps, task.param_sets, batch.equity
        )
        outcome = BacktestBatchCompleted(
            task_id=task.task_id,
            sweep_id=task.sweep_id,
            dataset=task.dataset.symbol,
            strategy=task.strategy,
            batch_index=task.batch_index,
            results=results,
            artifact_uri=uri,
            definitions=settings.definitions(),
            bars=len(bars.close),
            first_bar=bars.timestamps[0].astype("datetime64[us]").item() if len(bars.close) else None,
            last_bar=bars.timestamps[-1].astype("datetime64[us]").item() if len(bars.close) else None,
            duration_ms=(time.perf_counter() - started) * 1000,
            worker=worker,
            engine_ms=engine_ms,
        )
    await publisher.publish(
        BACKTESTS_RESULTS, _child(command, outcome, kind="result", subject_id=task.task_id), task.sweep_id
    )
    return outcome
