"""Grid expansion: ranges, lists, scalars, constraints as data, seeded sampling, size guard."""

from __future__ import annotations

import pytest

from zixly_backtester.domain.grid import GridTooLarge, expand_grid, range_values
from zixly_backtester.domain.strategies import InvalidParameters, UnknownStrategy
from zixly_contracts.sweep_spec import Constraint, Range, Sample, StrategyGrid


def sma_grid(**kw: object) -> StrategyGrid:
    return StrategyGrid(
        name="sma_cross",
        grid={"fast": Range(start=5, stop=50, step=5), "slow": Range(start=20, stop=210, step=10)},
        **kw,  # type: ignore[arg-type]
    )


def test_issue_grid_has_184_combinations() -> None:
    sets = expand_grid(sma_grid(constraints=[Constraint(left="fast", op="<", right="slow")]))
    assert len(sets) == 184
    assert sets[0] == {"fast": 5, "slow": 20}
    assert sets[-1] == {"fast": 50, "slow": 210}
    assert all(s["fast"] < s["slow"] for s in sets)
    assert all(isinstance(v, int) for s in sets for v in s.values())


def test_unconstrained_grid_is_the_full_product_in_order() -> None:
    sets = expand_grid(sma_grid())
    assert len(sets) == 10 * 20
    assert sets[:2] == [{"fast": 5, "slow": 20}, {"fast": 5, "slow": 30}]


def test_range_is_inclusive_and_float_steps_are_tidy() -> None:
    assert range_values(Range(start=1, stop=10, step=3)) == [1, 4, 7, 10]
    assert range_values(Range(start=1, stop=9, step=3)) == [1, 4, 7]
    assert range_values(Range(start=0.1, stop=0.5, step=0.1)) == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert range_values(Range(start=1.5, stop=3, step=0.5)) == [1.5, 2.0, 2.5, 3.0]


def test_lists_scalars_and_defaults() -> None:
    g = StrategyGrid(name="rsi_reversion", grid={"period": [7, 14, 14], "lower": 25})
    assert expand_grid(g) == [
        {"period": 7, "lower": 25.0, "upper": 70.0},
        {"period": 14, "lower": 25.0, "upper": 70.0},
    ]
    assert expand_grid(StrategyGrid(name="buy_and_hold")) == [{}]


@pytest.mark.parametrize(
    ("constraint", "count"),
    [
        (Constraint(left="fast", op="<", right="slow"), 184),
        (Constraint(left="fast", op="<=", right="slow"), 188),
        (Constraint(left="fast", op=">", right="slow"), 200 - 188),
        (Constraint(left="fast", op=">=", right="slow"), 200 - 184),
        (Constraint(left="fast", op="==", right="slow"), 4),
        (Constraint(left="fast", op="!=", right="slow"), 196),
        (Constraint(left="fast", op="<", right=20), 3 * 20),
        (Constraint(left="slow", op=">=", right=200.0), 10 * 2),
    ],
)
def test_constraints_are_data(constraint: Constraint, count: int) -> None:
    assert len(expand_grid(sma_grid(constraints=[constraint]))) == count


def test_strategy_requirements_drop_sets() -> None:
    g = StrategyGrid(name="macd", grid={"fast": [10, 26, 30], "slow": 26})
    assert expand_grid(g) == [{"fast": 10, "slow": 26, "signal": 9}]


def test_sampling_is_deterministic_without_replacement_and_in_grid_order() -> None:
    full = expand_grid(sma_grid(constraints=[Constraint(left="fast", op="<", right="slow")]))
    a = expand_grid(
        sma_grid(constraints=[Constraint(left="fast", op="<", right="slow")], sample=Sample(n=20, seed=7))
    )
    b = expand_grid(
        sma_grid(constraints=[Constraint(left="fast", op="<", right="slow")], sample=Sample(n=20, seed=7))
    )
    c = expand_grid(
        sma_grid(constraints=[Constraint(left="fast", op="<", right="slow")], sample=Sample(n=20, seed=8))
    )
    assert a == b
    assert a != c
    assert len(a) == 20
    assert len({tuple(s.items()) for s in a}) == 20
    positions = [full.index(s) for s in a]
    assert positions == sorted(positions)
    assert len(expand_grid(sma_grid(sample=Sample(n=10_000, seed=1)))) == 200


def test_size_guard() -> None:
    with pytest.raises(GridTooLarge, match="expands to 200 parameter sets; the limit is 100"):
        expand_grid(sma_grid(), max_count=100)
    big = StrategyGrid(
        name="macd",
        grid={
            "fast": Range(start=2, stop=1000, step=1),
            "slow": Range(start=2, stop=1000, step=1),
            "signal": Range(start=2, stop=1000, step=1),
        },
    )
    with pytest.raises(GridTooLarge, match="before constraints"):
        expand_grid(big)
    assert issubclass(GridTooLarge, ValueError)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (StrategyGrid(name="sma_cross", grid={"fast": [0, 5]}), "outside"),
        (StrategyGrid(name="sma_cross", grid={"fast": Range(start=1, stop=2, step=0.5)}), "whole number"),
        (StrategyGrid(name="sma_cross", grid={"speed": 3}), "no parameter"),
        (
            StrategyGrid(name="sma_cross", constraints=[Constraint(left="fast", op="<", right="slowest")]),
            "unknown parameter",
        ),
    ],
)
def test_invalid_grids(grid: StrategyGrid, message: str) -> None:
    with pytest.raises(InvalidParameters, match=message):
        expand_grid(grid)


def test_unknown_strategy() -> None:
    with pytest.raises(UnknownStrategy):
        expand_grid(StrategyGrid(name="astrology"))


def test_a_range_too_wide_for_a_float_is_too_large_not_an_overflow():
    # A recorded sweep is not held to the door's limits again, so the planner's own count must hold.
    huge = Range.model_construct(start=0, stop=10**400, step=1)
    with pytest.raises(GridTooLarge, match="has more than 100000 values$"):
        range_values(huge)
