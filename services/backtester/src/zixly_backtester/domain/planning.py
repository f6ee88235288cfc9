"""Planning a sweep: expand every grid, split it into bounded tasks. Pure and deterministic."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from zixly_backtester.domain.grid import expand_grid
from zixly_contracts import ids
from zixly_contracts.events import RunBacktestBatch, SweepPlanned, SweepRequested
from zixly_contracts.sweep_spec import StrategyGrid

BASELINE = "buy_and_hold"


class PlanningError(ValueError):
    """The sweep cannot be planned (unknown strategy, invalid parameters, too big): it fails as a whole."""


@dataclass(frozen=True)
class Plan:
    planned: SweepPlanned
    tasks: list[RunBacktestBatch]


def strategies_with_baseline(grids: list[StrategyGrid]) -> list[StrategyGrid]:
    """Every sweep reports the buy-and-hold baseline, asked for or not."""
    if any(g.name == BASELINE for g in grids):
        return grids
    return [*grids, StrategyGrid(name=BASELINE)]


def expand_strategies(grids: list[StrategyGrid]) -> list[tuple[str, list[dict[str, int | float]]]]:
    """Each strategy once, with its parameter sets: grids naming the same strategy are united."""
    merged: dict[str, dict[tuple[tuple[str, int | float], ...], dict[str, int | float]]] = {}
    for grid in strategies_with_baseline(grids):
        try:
            param_sets = expand_grid(grid)
        except (ValueError, ArithmeticError) as exc:
            raise PlanningError(f"strategy {grid.name!r}: {exc}") from exc
        if not param_sets:
            raise PlanningError(f"strategy {grid.name!r}: no parameter set satisfies the constraints")
        unique = merged.setdefault(grid.name, {})
        for params in param_sets:
            unique.setdefault(tuple(sorted(params.items())), params)
    return [(name, list(sets.values())) for name, sets in merged.items()]


def task_slot(sweep_id: str, index: int) -> int:
    """Where the ``index``-th task of a sweep goes: partition ``slot mod partitions`` of the task topic.

    Round-robin from a point set by the sweep id, in plan order (dataset by dataset): any replica count
    that divides the partition count gets an equal share (±1 task) of every dataset, and small sweeps
    start on different partitions. Hashing task ids instead left one of two replicas with 5-20 % more
    work than the other, and the sweep waits for the slowest replica.
    """
    return zlib.crc32(sweep_id.encode()) + index


def plan_sweep(request: SweepRequested, *, batch_size: int, max_backtests: int) -> Plan:
    spec = request.spec
    batch = spec.batch_size or batch_size
    symbols = [d.symbol for d in spec.datasets]
    repeated = sorted({s for s in symbols if symbols.count(s) > 1})
    if repeated:
        raise PlanningError(f"dataset(s) listed more than once: {', '.join(repeated)}")
    expanded = expand_strategies(list(spec.strategies))
    total = sum(len(param_sets) for _, param_sets in expanded) * len(spec.datasets)
    if total > max_backtests:
        raise PlanningError(f"the sweep expands to {total} backtests; the limit is {max_backtests}")

    tasks: list[RunBacktestBatch] = []
    for dataset in spec.datasets:
        for strategy, param_sets in expanded:
            for index, start in enumerate(range(0, len(param_sets), batch)):
                tasks.append(
                    RunBacktestBatch(
                        task_id=ids.task_id(request.sweep_id, dataset.symbol, strategy, index),
                        sweep_id=request.sweep_id,
                        dataset=dataset,
                        strategy=strategy,
                        batch_index=index,
                        param_sets=param_sets[start : start + batch],
                        execution=spec.execution,
                    )
                )
    planned = SweepPlanned(
        sweep_id=request.sweep_id,
        name=spec.name,
        task_count=len(tasks),
        backtest_count=total,
        datasets=[d.symbol for d in spec.datasets],
        strategies=[name for name, _ in expanded],
    )
    return Plan(planned=planned, tasks=tasks)
