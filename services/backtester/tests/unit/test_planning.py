"""Planning a sweep: bounded tasks, deterministic ids, the baseline, and input that cannot be planned."""

from __future__ import annotations

import pytest

from zixly_backtester.domain.planning import PlanningError, plan_sweep, task_slot
from zixly_contracts import ids
from zixly_contracts.events import SweepRequested
from zixly_contracts.sweep_spec import SweepSpec


def request(strategies: list, datasets: list | None = None, **spec) -> SweepRequested:
    sweep = SweepSpec.model_validate(
        {
            "datasets": datasets or [{"symbol": "GOOG_1d", "periods_per_year": 252}],
            "strategies": strategies,
            **spec,
        }
    )
    return SweepRequested(sweep_id="s1", source="cli", webhook_id="w1", spec=sweep)


SMA = {"name": "sma_cross", "grid": {"fast": [10, 20], "slow": [50, 100, 200]}}


def test_tasks_are_bounded_batches_with_deterministic_ids():
    plan = plan_sweep(request([SMA]), batch_size=4, max_backtests=1_000)
    assert [(t.strategy, len(t.param_sets)) for t in plan.tasks] == [
        ("sma_cross", 4),
        ("sma_cross", 2),
        ("buy_and_hold", 1),
    ]
    assert plan.tasks[1].task_id == ids.task_id("s1", "GOOG_1d", "sma_cross", 1)
    assert (plan.planned.task_count, plan.planned.backtest_count) == (3, 7)
    assert plan.planned.strategies == ["sma_cross", "buy_and_hold"]
    again = plan_sweep(request([SMA]), batch_size=4, max_backtests=1_000)
    assert again == plan


def test_grids_of_the_same_strategy_are_united_without_duplicates():
    """Two grids of one strategy (and a repeated baseline) must not collide on task ids."""
    second = {"name": "sma_cross", "grid": {"fast": [20, 30], "slow": [200]}}
    plan = plan_sweep(
        request([SMA, second, {"name": "buy_and_hold"}, {"name": "buy_and_hold"}]),
        batch_size=100,
        max_backtests=1_000,
    )
    sma = [t for t in plan.tasks if t.strategy == "sma_cross"]
    assert len(sma) == 1
    assert len(sma[0].param_sets) == 7  # 6 + (30, 200); (20, 200) was in both
    assert len({t.task_id for t in plan.tasks}) == len(plan.tasks)
    assert plan.planned.backtest_count == 8


def test_a_dataset_listed_twice_fails_the_plan():
    twice = [{"symbol": "GOOG_1d", "periods_per_year": 252}] * 2
    with pytest.raises(PlanningError, match="listed more than once: GOOG_1d"):
        plan_sweep(request([SMA], datasets=twice), batch_size=10, max_backtests=1_000)


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ({"name": "nope"}, "unknown strategy 'nope'"),
        ({"name": "sma_cross", "grid": {"fast": [10**400]}}, "sma_cross"),
        ({"name": "sma_cross", "grid": {"fast": [0]}}, "outside"),
        (
            {
                "name": "sma_cross",
                "grid": {"fast": [10]},
                "constraints": [{"left": "fast", "op": ">", "right": 99}],
            },
            "no parameter set",
        ),
    ],
)
def test_unplannable_strategies_fail_with_a_reason(strategy, message):
    with pytest.raises(PlanningError, match=message):
        plan_sweep(request([strategy]), batch_size=10, max_backtests=1_000)


def test_the_backtest_limit_counts_every_dataset():
    two = [{"symbol": "GOOG_1d", "periods_per_year": 252}, {"symbol": "SPX_1d", "periods_per_year": 252}]
    with pytest.raises(PlanningError, match="expands to 14 backtests; the limit is 13"):
        plan_sweep(request([SMA], datasets=two), batch_size=10, max_backtests=13)


@pytest.mark.parametrize("replicas", [1, 2, 4, 8, 16, 32])
def test_every_replica_count_dividing_the_partitions_gets_an_equal_share_of_every_dataset(replicas):
    datasets = [{"symbol": s, "periods_per_year": 252} for s in ("MSFT_1d", "SPX_1d", "IXIC_1d", "GOOG_1d")]
    grid = {"name": "sma_cross", "grid": {"fast": {"start": 2, "stop": 100, "step": 2}, "slow": [50, 200]}}
    plan = plan_sweep(request([grid], datasets), batch_size=4, max_backtests=10_000)
    partitions = 32
    share: dict[tuple[str, int], int] = {}
    for index, task in enumerate(plan.tasks):
        # aiokafka's round-robin assignor: partition p of the task topic goes to member p mod replicas.
        member = task_slot("s1", index) % partitions % replicas
        key = (task.dataset.symbol, member)
        share[key] = share.get(key, 0) + 1
    for dataset in datasets:
        counts = [share.get((dataset["symbol"], m), 0) for m in range(replicas)]
        assert sum(counts) == 26  # 50 fast x 2 slow values in batches of 4 (25), + buy-and-hold
        assert max(counts) - min(counts) <= 1, (dataset["symbol"], counts)


def test_task_slots_are_consecutive_from_a_point_set_by_the_sweep_id():
    assert [task_slot("s1", i) - task_slot("s1", 0) for i in range(3)] == [0, 1, 2]
    assert task_slot("s1", 0) == 336_935_152  # crc32: the same on every replica and every run
    assert task_slot("s1", 0) % 32 != task_slot("s2", 0) % 32
