"""Pinned values of the engine on real data (GOOG daily, as the README lists them); batch properties."""

from __future__ import annotations

import numpy as np
import pytest

from zixly_backtester.domain.bars import Bars
from zixly_backtester.domain.engine import ExecutionSettings, run_batch
from zixly_contracts.metrics import METRIC_NAMES, Metrics

CLOSE_WHOLE = ExecutionSettings(fill="close", units="whole")
CLOSE_FRACTIONAL = ExecutionSettings(fill="close", units="fractional")


@pytest.mark.parametrize(
    ("fast", "slow", "expected"),
    [(10, 20, 6.192492), (20, 50, 1.842073), (50, 200, 0.217995)],
)
def test_sma_cross_whole_units_on_goog(goog: Bars, fast: int, slow: int, expected: float) -> None:
    result = run_batch(goog, "sma_cross", [{"fast": fast, "slow": slow}], CLOSE_WHOLE)
    assert result.metrics[0]["total_return"] == pytest.approx(expected, abs=1e-6)
    assert result.metrics[0]["final_equity"] == pytest.approx(10_000 * (1 + expected), abs=1e-6)


def test_sma_cross_fractional_units_on_goog(goog: Bars) -> None:
    result = run_batch(goog, "sma_cross", [{"fast": 10, "slow": 20}], CLOSE_FRACTIONAL)
    assert result.metrics[0]["total_return"] == pytest.approx(6.277157, abs=1e-6)


def test_batch_gives_the_same_numbers_as_single_runs(goog: Bars) -> None:
    sets = [{"fast": 10, "slow": 20}, {"fast": 20, "slow": 50}, {"fast": 50, "slow": 200}]
    batch = run_batch(goog, "sma_cross", sets, CLOSE_WHOLE)
    for i, p in enumerate(sets):
        single = run_batch(goog, "sma_cross", [p], CLOSE_WHOLE)
        assert single.metrics[0] == batch.metrics[i]
        assert np.array_equal(single.equity[0], batch.equity[i])


def test_runs_are_bit_identical(goog: Bars) -> None:
    sets = [{"fast": f, "slow": s} for f in range(5, 30, 5) for s in range(20, 100, 20) if f < s]
    a = run_batch(goog, "sma_cross", sets, ExecutionSettings(fee_bps=7.5, slippage_bps=2))
    b = run_batch(goog, "sma_cross", sets, ExecutionSettings(fee_bps=7.5, slippage_bps=2))
    assert a.equity.tobytes() == b.equity.tobytes()
    assert a.metrics == b.metrics


def test_result_shape_and_metric_keys(goog: Bars) -> None:
    result = run_batch(
        goog, "sma_cross", [{"fast": 10, "slow": 20}, {"fast": 5, "slow": 30}], ExecutionSettings()
    )
    assert result.equity.shape == (2, len(goog))
    assert result.equity.dtype == np.float64
    for m in result.metrics:
        assert tuple(m) == METRIC_NAMES
        Metrics.model_validate(m)  # fits the wire contract


def test_equity_final_value_is_final_equity(goog: Bars) -> None:
    result = run_batch(goog, "sma_cross", [{"fast": 10, "slow": 20}], CLOSE_WHOLE)
    assert result.equity[0, -1] == result.metrics[0]["final_equity"]


def test_buy_and_hold_on_goog(goog: Bars) -> None:
    result = run_batch(goog, "buy_and_hold", [{}], CLOSE_FRACTIONAL)
    m = result.metrics[0]
    assert m["total_return"] == pytest.approx(goog.close[-1] / goog.close[0] - 1, rel=1e-12)
    assert m["closed_trades"] == 0
    assert m["open_trades"] == 1
    assert m["exposure"] == 1.0
    assert m["win_rate"] is None


def test_buy_and_hold_next_open_buys_at_second_open(goog: Bars) -> None:
    result = run_batch(goog, "buy_and_hold", [{}], ExecutionSettings())
    assert result.metrics[0]["final_equity"] == pytest.approx(
        10_000 / goog.open[1] * goog.close[-1], rel=1e-12
    )
    assert result.equity[0, 0] == 10_000.0
