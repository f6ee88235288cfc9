"""Parameter grids: ranges or lists per parameter, constraints as data, seeded random sampling.

No user string is ever evaluated: a constraint is ``(left, op, right)`` with ``op`` from a fixed list
and ``right`` a parameter name or a number. Parameters the grid omits take the strategy's default.
Every value is validated against the strategy's documented range; parameter sets that break one of the
strategy's own requirements (e.g. MACD fast < slow) are dropped like constrained-out ones.

The output order is deterministic: the Cartesian product in the strategy's parameter order, the
first parameter varying slowest; a sample keeps that order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from zixly_backtester.domain.strategies import InvalidParameters, ParamDef, coerce_param, get_strategy
from zixly_contracts.sweep_spec import (
    MAX_GRID_POINTS,
    MAX_RANGE_VALUES,
    Constraint,
    Range,
    Sample,
    StrategyGrid,
    range_length,
)

DEFAULT_MAX_COUNT = 1_000_000


class GridTooLarge(ValueError):
    """The grid expands to more parameter sets than allowed."""


def range_values(r: Range) -> list[int | float]:
    """``start, start + step, …`` up to ``stop`` inclusive (a step landing within 1e-9 of stop counts)."""
    count = range_length(r)  # the contract's count, which ingest applies at the door
    if count is None:
        raise GridTooLarge(f"range {r.start}:{r.stop}:{r.step} has more than {MAX_RANGE_VALUES} values")
    if all(isinstance(v, int) for v in (r.start, r.stop, r.step)):
        return [int(r.start + i * r.step) for i in range(count)]
    return [_tidy(r.start + i * r.step) for i in range(count)]


def _tidy(v: float) -> float:
    """Drop the float noise of ``start + i * step`` (0.30000000000000004 → 0.3)."""
    return float(f"{v:.12g}")


def _values(strategy: str, p: ParamDef, spec: object) -> list[int | float]:
    if isinstance(spec, Range):
        raw: Sequence[object] = range_values(spec)
    elif isinstance(spec, list):
        raw = spec
    else:
        raw = [spec]
    seen: dict[int | float, None] = {}
    for v in raw:
        seen.setdefault(coerce_param(strategy, p, v), None)
    return list(seen)


def expand_grid(
    strategy_grid: StrategyGrid,
    max_count: int = DEFAULT_MAX_COUNT,
) -> list[dict[str, int | float]]:
    """Every parameter set of the grid (after constraints and sampling), fully specified and validated."""
    strategy = strategy_grid.name
    sdef = get_strategy(strategy)
    names = [p.name for p in sdef.params]
    unknown = sorted(set(strategy_grid.grid) - set(names))
    if unknown:
        allowed = ", ".join(names) or "none"
        raise InvalidParameters(f"{strategy} has no parameter(s) {', '.join(unknown)}; allowed: {allowed}")
    values = {
        p.name: _values(strategy, p, strategy_grid.grid[p.name])
        if p.name in strategy_grid.grid
        else [p.default]
        for p in sdef.params
    }
    constraints = [(c.left, c.op, c.right) for c in strategy_grid.constraints]
    for left, _, right in constraints:
        for side in (left, right):
            if isinstance(side, str) and side not in names:
                raise InvalidParameters(f"constraint on unknown parameter {side!r} of {strategy}")
    constraints += list(sdef.requires)

    sizes = [len(values[n]) for n in names]
    total = math.prod(sizes)
    if total > MAX_GRID_POINTS:
        raise GridTooLarge(
            f"the grid of {strategy} has {total} combinations before constraints; "
            f"the limit is {MAX_GRID_POINTS}"
        )
    if not names:
        combos: dict[str, np.ndarray] = {}
        keep = np.ones(1, dtype=bool)
    else:
        idx = np.indices(sizes, dtype=np.int64).reshape(len(sizes), -1)
        combos = {n: np.asarray(values[n], dtype=np.float64)[idx[i]] for i, n in enumerate(names)}
        keep = np.ones(total, dtype=bool)
        for left, op, right in constraints:
            rhs = combos[right] if isinstance(right, str) else float(right)
            keep &= _compare(combos[left], op, rhs)
    chosen = np.flatnonzero(keep)
    if strategy_grid.sample is not None:
        chosen = _sample(chosen, strategy_grid.sample)
    if len(chosen) > max_count:
        raise GridTooLarge(
            f"the grid of {strategy} expands to {len(chosen)} parameter sets; the limit is {max_count}"
        )
    kinds = {p.name: p.kind for p in sdef.params}
    out: list[dict[str, int | float]] = []
    columns = {n: combos[n][chosen].tolist() for n in names}
    for i in range(len(chosen)):
        out.append({n: (int(columns[n][i]) if kinds[n] == "int" else columns[n][i]) for n in names})
    return out


def _compare(a: np.ndarray, op: str, b: np.ndarray | float) -> np.ndarray:
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    raise InvalidParameters(f"unknown comparison {op!r}")


def _sample(chosen: np.ndarray, sample: Sample) -> np.ndarray:
    """``n`` of the surviving sets, drawn without replacement with a seeded generator, in grid order."""
    if sample.n >= len(chosen):
        return chosen
    rng = np.random.default_rng(sample.seed)
    picked = rng.choice(len(chosen), size=sample.n, replace=False)
    return chosen[np.sort(picked)]


def grid_from_mapping(
    name: str,
    grid: Mapping[str, object],
    constraints: Sequence[tuple[str, str, str | float]] = (),
    sample: tuple[int, int] | None = None,
) -> StrategyGrid:
    """A :class:`StrategyGrid` from plain values (``Range``/list/scalar per parameter)."""
    return StrategyGrid(
        name=name,
        grid=dict(grid),  # type: ignore[arg-type]
        constraints=[Constraint(left=a, op=op, right=b) for a, op, b in constraints],  # type: ignore[arg-type]
        sample=Sample(n=sample[0], seed=sample[1]) if sample else None,
    )
