"""Planning a sweep: expand every grid, split it into bounded tasks. Pure and deterministic."""

from __future__ import annotations

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


def plan_sweep(request: SweepRequested, *, batch_size: int, max_backtests: int) -> Plan:
    spec = request.spec
    batch = spec.batch_size or batch_size
    grids = strategies_with_baseline(list(spec.strategies))
    expanded: list[tuple[StrategyGrid, list[dict[str, int | float]]]] = []
    total = 0
    for grid in grids:
        try:
            param_sets = expand_grid(grid)
        except ValueError as exc:
            raise PlanningError(f"strategy {grid.name!r}: {exc}") from exc
        if not param_sets:
            raise PlanningError(f"strategy {grid.name!r}: no parameter set satisfies the constraints")
        expanded.append((grid, param_sets))
        total += len(param_sets) * len(spec.datasets)
    if total > max_backtests:
        raise PlanningError(f"the sweep expands to {total} backtests; the limit is {max_backtests}")

    tasks: list[RunBacktestBatch] = []
    for dataset in spec.datasets:
        for grid, param_sets in expanded:
            for index, start in enumerate(range(0, len(param_sets), batch)):
                tasks.append(
                    RunBacktestBatch(
                        task_id=ids.task_id(request.sweep_id, dataset.symbol, grid.name, index),
                        sweep_id=request.sweep_id,
                        dataset=dataset,
                        strategy=grid.name,
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
        strategies=[g.name for g in grids],
    )
    return Plan(planned=planned, tasks=tasks)
