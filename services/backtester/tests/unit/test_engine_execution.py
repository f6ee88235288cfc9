"""The execution model, with the cases from public bug reports of other engines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zixly_backtester.domain.bars import Bars
from zixly_backtester.domain.engine import (
    EXIT_REASONS,
    TRADE_COLUMNS,
    ExecutionSettings,
    run_batch,
    run_plan,
    run_signals,
)
from zixly_backtester.domain.strategies import SignalPlan

ENTER_LONG, EXIT_LONG, ENTER_SHORT, EXIT_SHORT = 1, 2, 4, 8
COL = {name: i for i, name in enumerate(TRADE_COLUMNS)}


def flags_at(n: int, **at: int) -> np.ndarray:
    """One flag row: ``flags_at(5, b0=ENTER_LONG, b3=EXIT_LONG)``."""
    row = np.zeros((1, n), dtype=np.int64)
    for key, flag in at.items():
        row[0, int(key[1:])] |= flag
    return row


def only_trade(result) -> dict[str, float]:  # noqa: ANN001
    assert result.trades is not None
    assert len(result.trades) == 1
    return dict(zip(TRADE_COLUMNS, result.trades[0].tolist(), strict=True))


# ---- stops: gaps fill at the open, checked from the entry bar on


def test_short_stop_gapped_through_fills_at_the_open() -> None:
    # short entered at 149.38 (next open), stop-loss 160; the next bar opens at 170.54
    bars = Bars.from_arrays(
        open=[150.0, 149.38, 170.54],
        high=[151.0, 152.0, 180.17],
        low=[149.0, 148.0, 164.08],
        close=[150.0, 150.5, 172.43],
    )
    stop_pct = (160.0 / 149.38 - 1.0) * 100.0
    settings = ExecutionSettings(direction="long_short", stop_loss_pct=stop_pct)
    trade = only_trade(run_signals(bars, flags_at(3, b0=ENTER_SHORT), settings, with_trades=True))
    assert trade["direction"] == -1
    assert trade["entry_price"] == 149.38
    assert trade["exit_price"] == 170.54
    assert trade["exit_bar"] == 2
    assert EXIT_REASONS[int(trade["exit_reason"])] == "stop_loss"


def test_long_stop_gapped_through_fills_at_the_open() -> None:
    bars = Bars.from_arrays(
        open=[100.0, 100.0, 50.0],
        high=[100.0, 101.0, 55.0],
        low=[100.0, 99.0, 45.0],
        close=[100.0, 100.0, 52.0],
    )
    settings = ExecutionSettings(fill="close", stop_loss_pct=10.0)
    trade = only_trade(run_signals(bars, flags_at(3, b0=ENTER_LONG), settings, with_trades=True))
    assert trade["entry_price"] == 100.0
    assert trade["exit_price"] == 50.0
    assert trade["exit_bar"] == 2


def test_stop_is_checked_on_the_entry_bar() -> None:
    # long entered at the open 755.54 with its stop at 720; the same bar's low is 676.00
    bars = Bars.from_arrays(
        open=[760.0, 755.54, 700.0],
        high=[765.0, 760.0, 710.0],
        low=[750.0, 676.00, 690.0],
        close=[758.0, 700.0, 705.0],
    )
    stop_pct = (1.0 - 720.0 / 755.54) * 100.0
    result = run_signals(
        bars, flags_at(3, b0=ENTER_LONG), ExecutionSettings(stop_loss_pct=stop_pct), with_trades=True
    )
    trade = only_trade(result)
    assert trade["entry_bar"] == 1
    assert trade["exit_bar"] == 1
    assert trade["exit_price"] == pytest.approx(720.0, abs=1e-9)
    assert trade["return"] == pytest.approx(-0.04704, abs=5e-6)
    assert result.metrics[0]["closed_trades"] == 1
    assert result.metrics[0]["open_trades"] == 0


def test_take_profit_and_stop_levels() -> None:
    bars = Bars.from_arrays(
        open=[100.0, 100.0, 104.0, 111.0],
        high=[100.0, 105.0, 109.0, 115.0],
        low=[100.0, 98.0, 103.0, 110.0],
        close=[100.0, 104.0, 108.0, 112.0],
    )
    settings = ExecutionSettings(fill="close", take_profit_pct=10.0, stop_loss_pct=5.0)
    trade = only_trade(run_signals(bars, flags_at(4, b0=ENTER_LONG), settings, with_trades=True))
    assert trade["exit_bar"] == 3
    assert trade["exit_price"] == 111.0  # gapped above the 110 target: filled at the open
    assert EXIT_REASONS[int(trade["exit_reason"])] == "take_profit"
    settings = ExecutionSettings(fill="close", take_profit_pct=8.0)
    trade = only_trade(run_signals(bars, flags_at(4, b0=ENTER_LONG), settings, with_trades=True))
    assert trade["exit_bar"] == 2
    assert trade["exit_price"] == pytest.approx(108.0, abs=1e-12)


def test_stop_exit_is_not_reentered_without_a_new_signal() -> None:
    bars = Bars.from_arrays(close=[100.0, 100.0, 80.0, 90.0, 100.0])
    settings = ExecutionSettings(fill="close", stop_loss_pct=10.0)
    result = run_signals(bars, flags_at(5, b0=ENTER_LONG), settings, with_trades=True)
    assert result.metrics[0]["closed_trades"] == 1
    assert result.metrics[0]["open_trades"] == 0
    assert result.equity[0, -1] == result.equity[0, 2]


# ---- sizing and costs


def test_buying_on_the_last_bar_at_its_close_keeps_equity_exact() -> None:
    closes = [101.37, 99.11, 103.97, 97.53]
    for units in ("whole", "fractional"):
        bars = Bars.from_arrays(close=closes)
        result = run_signals(bars, flags_at(4, b3=ENTER_LONG), ExecutionSettings(fill="close", units=units))
        assert result.metrics[0]["final_equity"] == 10_000.0
        assert result.metrics[0]["total_return"] == 0.0
        assert result.metrics[0]["open_trades"] == 1


def test_fixed_fee_leaves_room_in_all_in_whole_units() -> None:
    bars = Bars.from_arrays(close=[10.0, 10.0, 10.0])
    settings = ExecutionSettings(cash=1_000.0, fill="close", units="whole", fixed_fee=5.0)
    trade = only_trade(run_signals(bars, flags_at(3, b0=ENTER_LONG), settings, with_trades=True))
    assert trade["units"] == 99
    assert trade["fees"] == 5.0
    assert trade["open"] == 1.0


def test_negative_relative_fee_is_a_rebate() -> None:
    bars = Bars.from_arrays(close=[100.0, 100.0, 100.0])
    settings = ExecutionSettings(fill="close", fee_bps=-4.0)
    result = run_signals(
        bars, flags_at(3, b0=ENTER_LONG, b1=EXIT_LONG), settings, fixed_units=10, with_trades=True
    )
    assert result.metrics[0]["final_equity"] == pytest.approx(10_000.80, abs=1e-9)
    assert only_trade(result)["pnl"] == pytest.approx(0.80, abs=1e-9)


def test_fee_aware_all_in_sizing_spends_exactly_the_cash() -> None:
    bars = Bars.from_arrays(close=[100.0, 100.0])
    settings = ExecutionSettings(fill="close", fee_bps=10.0, fixed_fee=1.0)
    trade = only_trade(run_signals(bars, flags_at(2, b0=ENTER_LONG), settings, with_trades=True))
    assert trade["units"] == pytest.approx(9_999.0 / (100.0 * 1.001), rel=1e-15)
    assert trade["units"] * 100.0 * 1.001 + 1.0 == pytest.approx(10_000.0, abs=1e-9)


def test_slippage_moves_fills_against_the_trader() -> None:
    bars = Bars.from_arrays(close=[100.0, 100.0, 100.0])
    settings = ExecutionSettings(fill="close", slippage_bps=10.0, direction="long_short")
    long_trade = only_trade(
        run_signals(bars, flags_at(3, b0=ENTER_LONG, b1=EXIT_LONG), settings, with_trades=True)
    )
    assert long_trade["entry_price"] == pytest.approx(100.1, abs=1e-12)
    assert long_trade["exit_price"] == pytest.approx(99.9, abs=1e-12)
    assert long_trade["pnl"] < 0
    short = only_trade(
        run_signals(bars, flags_at(3, b0=ENTER_SHORT, b1=EXIT_SHORT), settings, with_trades=True)
    )
    assert short["entry_price"] == pytest.approx(99.9, abs=1e-12)
    assert short["exit_price"] == pytest.approx(100.1, abs=1e-12)
    assert short["pnl"] < 0


def test_whole_units_round_down() -> None:
    bars = Bars.from_arrays(close=[300.0, 330.0])
    whole = run_signals(bars, flags_at(2, b0=ENTER_LONG), ExecutionSettings(fill="close", units="whole"))
    frac = run_signals(bars, flags_at(2, b0=ENTER_LONG), ExecutionSettings(fill="close"))
    assert whole.metrics[0]["final_equity"] == pytest.approx(10_000 - 33 * 300 + 33 * 330, abs=1e-9)
    assert frac.metrics[0]["final_equity"] == pytest.approx(11_000.0, abs=1e-9)


def test_short_profit_and_reversal() -> None:
    bars = Bars.from_arrays(close=[100.0, 80.0, 80.0, 88.0])
    settings = ExecutionSettings(fill="close", direction="long_short")
    result = run_signals(
        bars, flags_at(4, b0=ENTER_SHORT, b1=ENTER_LONG | EXIT_SHORT), settings, with_trades=True
    )
    assert result.trades is not None
    short, long_ = result.trades.tolist()
    assert short[COL["direction"]] == -1
    assert short[COL["pnl"]] == pytest.approx(100 * 20, abs=1e-9)
    assert long_[COL["direction"]] == 1
    assert long_[COL["units"]] == pytest.approx(12_000 / 80, abs=1e-9)
    assert result.metrics[0]["final_equity"] == pytest.approx(12_000 * 1.1, abs=1e-9)
    assert result.metrics[0]["closed_trades"] == 1
    assert result.metrics[0]["open_trades"] == 1


def test_long_only_ignores_short_entries() -> None:
    bars = Bars.from_arrays(close=[100.0, 80.0, 80.0, 88.0])
    result = run_signals(bars, flags_at(4, b0=ENTER_SHORT), ExecutionSettings(fill="close"))
    assert result.metrics[0]["final_equity"] == 10_000.0
    assert result.metrics[0]["exposure"] == 0.0


# ---- fills and NaN bars


def test_next_open_fills_at_the_following_open() -> None:
    bars = Bars.from_arrays(open=[10.0, 11.0, 12.0, 13.0], close=[10.5, 11.5, 12.5, 13.5])
    result = run_signals(
        bars, flags_at(4, b0=ENTER_LONG, b2=EXIT_LONG), ExecutionSettings(), with_trades=True
    )
    trade = only_trade(result)
    assert (trade["entry_bar"], trade["entry_price"]) == (1, 11.0)
    assert (trade["exit_bar"], trade["exit_price"]) == (3, 13.0)
    assert result.equity[0].tolist() == pytest.approx(
        [10_000, 10_000 / 11 * 11.5, 10_000 / 11 * 12.5, 10_000 / 11 * 13]
    )


def test_no_fill_on_a_nan_bar_and_valuation_forward_fills() -> None:
    nan = math.nan
    bars = Bars.from_arrays(
        open=[10.0, nan, 12.0, 13.0],
        close=[10.0, nan, 12.0, 14.0],
        high=[10.0, nan, 12.0, 14.0],
        low=[10.0, nan, 12.0, 13.0],
        allow_nan=True,
    )
    result = run_signals(bars, flags_at(4, b0=ENTER_LONG), ExecutionSettings(), with_trades=True)
    trade = only_trade(result)
    assert (trade["entry_bar"], trade["entry_price"]) == (2, 12.0)
    bars2 = Bars.from_arrays(close=[10.0, 11.0, nan, 13.0], allow_nan=True)
    result2 = run_signals(bars2, flags_at(4, b0=ENTER_LONG), ExecutionSettings(fill="close"))
    assert result2.equity[0].tolist() == pytest.approx([10_000, 11_000, 11_000, 13_000])


def test_open_trade_counts_in_equity_and_is_reported_apart() -> None:
    bars = Bars.from_arrays(close=[100.0, 110.0, 120.0, 90.0, 100.0])
    result = run_signals(
        bars,
        flags_at(5, b0=ENTER_LONG, b1=EXIT_LONG, b2=ENTER_LONG),
        ExecutionSettings(fill="close"),
        with_trades=True,
    )
    m = result.metrics[0]
    assert m["closed_trades"] == 1
    assert m["open_trades"] == 1
    assert m["win_rate"] == 1.0
    assert m["final_equity"] == pytest.approx(11_000 / 120 * 100, abs=1e-9)
    assert result.trades is not None
    assert result.trades[:, COL["open"]].tolist() == [0.0, 1.0]


# ---- the crossover tie rule


def crossing_plan(diff: list[float]) -> SignalPlan:
    x = np.asarray([diff], dtype=np.float64)
    return SignalPlan(
        x=x,
        lines=np.zeros((1, len(diff))),
        ix=np.zeros(1, dtype=np.int64),
        il=np.zeros((1, 4), dtype=np.int64),
        dirs=np.asarray([1, -1, -1, 1], dtype=np.int64),
    )


@pytest.mark.parametrize(
    ("diff", "entries"),
    [
        ([-1.0, 1.0, 1.0], [1]),
        ([-1.0, 0.0, 1.0], [2]),  # a tie does not hide the cross
        ([-1.0, 0.0, 0.0, 0.0, 1.0], [4]),
        ([1.0, 0.0, 1.0, 0.0, 1.0], []),  # nor does a plateau of ties create one
        ([0.0, 1.0, 1.0], []),  # no earlier non-zero sign: no cross
        ([math.nan, -1.0, math.nan, 1.0], [3]),  # warm-up NaNs carry no sign
        ([-1.0, 0.0, -1.0, 0.0, 2.0, -3.0, 0.0, 4.0], [4, 7]),
    ],
)
def test_tie_rule(diff: list[float], entries: list[int]) -> None:
    bars = Bars.from_arrays(close=[100.0] * len(diff))
    result = run_plan(bars, crossing_plan(diff), ExecutionSettings(fill="close"), with_trades=True)
    assert result.trades is not None
    assert result.trades[:, COL["entry_bar"]].astype(int).tolist() == entries


@pytest.mark.parametrize(("nudge", "entry_bar"), [(0.0, 5), (1e-14, 4), (-1e-14, 5)])
def test_tie_rule_on_close_against_sma3(nudge: float, entry_bar: int) -> None:
    closes = [3.0, 3.0, 3.0, 2.0, 2.5 + nudge, 3.5]
    bars = Bars.from_arrays(close=closes)
    settings = ExecutionSettings(fill="close")
    result = run_batch(bars, "sma_cross", [{"fast": 1, "slow": 3}], settings, with_trades=True)
    assert result.trades is not None
    assert result.trades[:, COL["entry_bar"]].astype(int).tolist() == [entry_bar]
    assert result.trades[0, COL["entry_price"]] == closes[entry_bar]
