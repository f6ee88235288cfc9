"""The metric definitions: pinned cases on real data, and the kernel against the numpy statement."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zixly_backtester.domain import metrics as mx
from zixly_backtester.domain.bars import Bars
from zixly_backtester.domain.engine import TRADE_COLUMNS, ExecutionSettings, kernels, run_batch, run_signals

RATIOS = ("cagr", "annual_volatility", "sharpe", "sortino", "calmar")


def equity_from_returns(returns: list[float], cash: float = 1.0) -> np.ndarray:
    return cash * np.cumprod(1.0 + np.asarray(returns))


def kernel_metrics(equity: np.ndarray, cash: float, rf: float, ppy: float) -> dict[str, float]:
    k = kernels()
    m = np.full(k.N_METRICS, np.nan)
    ts = np.arange(len(equity), dtype=np.int64) * 86_400_000_000_000
    k._equity_metrics(np.asarray(equity, dtype=np.float64), ts, cash, rf / ppy, ppy, m)
    return {
        "sortino": m[k.M_SORTINO],
        "sharpe": m[k.M_SHARPE],
        "cagr": m[k.M_CAGR],
        "max_drawdown": m[k.M_MAX_DRAWDOWN],
        "max_drawdown_bars": m[k.M_MAX_DRAWDOWN_BARS],
    }


def test_sortino_per_period() -> None:
    r = [0.02, -0.01, 0.03, -0.02, 0.0]
    assert mx.downside_deviation(np.asarray(r)) == pytest.approx(0.0100, abs=1e-15)
    assert mx.sortino(np.asarray(r), periods_per_year=1) == pytest.approx(0.400, abs=1e-12)
    assert kernel_metrics(equity_from_returns(r), 1.0, 0.0, 1.0)["sortino"] == pytest.approx(0.400, abs=1e-12)


def test_annualized_return_is_bar_based() -> None:
    closes = np.linspace(100.0, 124.6489, 105)
    bars = Bars.from_arrays(close=closes)
    result = run_batch(bars, "buy_and_hold", [{}], ExecutionSettings(fill="close", periods_per_year=252))
    m = result.metrics[0]
    assert m["total_return"] == pytest.approx(0.246489, abs=1e-9)
    assert m["cagr"] == pytest.approx(0.6969, abs=5e-5)
    assert m["cagr"] == pytest.approx(1.246489 ** (252 / 105) - 1, rel=1e-9)


def test_fewer_than_two_returns_gives_null_ratios() -> None:
    bars = Bars.from_arrays(close=[100.0])
    for strategy in ("buy_and_hold", "sma_cross"):
        params = {} if strategy == "buy_and_hold" else {"fast": 1, "slow": 2}
        m = run_batch(bars, strategy, [params], ExecutionSettings(fill="close")).metrics[0]
        for name in RATIOS + ("win_rate", "profit_factor", "avg_trade", "expectancy", "sqn"):
            assert m[name] is None, name
        assert all(v is None or math.isfinite(v) for v in m.values())


def test_zero_variance_gives_null_sharpe_and_sortino() -> None:
    bars = Bars.from_arrays(close=[100.0, 101.0, 102.0, 103.0])
    m = run_batch(bars, "sma_cross", [{"fast": 2, "slow": 3}], ExecutionSettings()).metrics[0]
    assert m["closed_trades"] == 0
    assert m["total_return"] == 0.0
    assert m["sharpe"] is None
    assert m["sortino"] is None
    assert m["calmar"] is None
    assert m["annual_volatility"] == 0.0
    assert m["max_drawdown"] == 0.0


def test_risk_free_rate_is_per_bar() -> None:
    r = np.asarray([0.01, -0.005, 0.02, 0.0, 0.003])
    s = mx.sharpe(r, risk_free_rate=0.0252, periods_per_year=252)
    q = r - 0.0001
    assert s == pytest.approx(q.mean() / q.std(ddof=1) * math.sqrt(252), rel=1e-12)
    assert kernel_metrics(equity_from_returns(list(r)), 1.0, 0.0252, 252)["sharpe"] == pytest.approx(
        s, rel=1e-12
    )


def test_max_drawdown_and_its_duration() -> None:
    equity = np.asarray([100.0, 120.0, 90.0, 60.0, 100.0, 125.0, 110.0])
    mdd, peak, end = mx.max_drawdown(equity, 100.0)
    assert mdd == pytest.approx(-0.5)
    assert (peak, end) == (1, 5)
    k = kernel_metrics(equity, 100.0, 0.0, 252)
    assert k["max_drawdown"] == pytest.approx(-0.5)
    assert k["max_drawdown_bars"] == 4
    unrecovered = np.asarray([100.0, 90.0, 80.0, 85.0])
    assert mx.max_drawdown(unrecovered, 100.0) == (pytest.approx(-0.2), 0, 3)
    assert kernel_metrics(unrecovered, 100.0, 0.0, 252)["max_drawdown_bars"] == 3


def test_max_drawdown_days_are_calendar_days(goog: Bars) -> None:
    m = run_batch(
        goog, "sma_cross", [{"fast": 10, "slow": 20}], ExecutionSettings(fill="close", units="whole")
    )
    e = run_batch(
        goog, "sma_cross", [{"fast": 10, "slow": 20}], ExecutionSettings(fill="close", units="whole")
    )
    ref = mx.equity_metrics(e.equity[0], 10_000.0, goog.timestamps)
    assert m.metrics[0]["max_drawdown_days"] == ref["max_drawdown_days"]
    assert m.metrics[0]["max_drawdown_days"] > m.metrics[0]["max_drawdown_bars"]


@pytest.mark.parametrize(
    "settings",
    [
        ExecutionSettings(fill="close", units="whole"),
        ExecutionSettings(fee_bps=10, slippage_bps=5, risk_free_rate=0.02),
        ExecutionSettings(direction="long_short", fixed_fee=3, stop_loss_pct=5, take_profit_pct=15),
    ],
)
def test_kernel_metrics_match_the_numpy_definitions(goog: Bars, settings: ExecutionSettings) -> None:
    sets = [{"fast": f, "slow": s} for f, s in [(5, 20), (10, 20), (20, 50), (50, 200), (15, 100)]]
    result = run_batch(goog, "sma_cross", sets, settings, with_trades=True)
    assert result.trades is not None
    col = {name: i for i, name in enumerate(TRADE_COLUMNS)}
    for i, m in enumerate(result.metrics):
        ref = mx.equity_metrics(
            result.equity[i],
            settings.cash,
            goog.timestamps,
            risk_free_rate=settings.risk_free_rate,
            periods_per_year=settings.periods_per_year,
        )
        for name, value in ref.items():
            if value is None:
                assert m[name] is None, name
            else:
                assert m[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
        mine = result.trades[(result.trades[:, col["param_set"]] == i) & (result.trades[:, col["open"]] == 0)]
        stats = mx.trade_stats(mine[:, col["pnl"]], mine[:, col["return"]])
        for name, value in stats.items():
            if value is None:
                assert m[name] is None, name
            else:
                assert m[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
        assert m["closed_trades"] == len(mine)


def test_single_flag_run_exposure() -> None:
    bars = Bars.from_arrays(close=[1.0, 2.0, 3.0, 4.0])
    flags = np.zeros((1, 4), dtype=np.int64)
    flags[0, 1] = 1
    m = run_signals(bars, flags, ExecutionSettings(fill="close")).metrics[0]
    assert m["exposure"] == 0.75


def test_no_trades_with_a_risk_free_rate_has_null_sharpe() -> None:
    bars = Bars.from_arrays(close=[100.0, 101.0, 102.0, 103.0, 104.0])
    settings = ExecutionSettings(risk_free_rate=0.03, periods_per_year=252)
    m = run_batch(bars, "sma_cross", [{"fast": 2, "slow": 3}], settings).metrics[0]
    assert m["sharpe"] is None
    assert m["annual_volatility"] == 0.0
    assert m["sortino"] == pytest.approx(-math.sqrt(252), rel=1e-12)  # mean(-rf/P) / (rf/P) · √P
    assert mx.sharpe(np.zeros(5), 0.03, 252) is None


def test_kernel_drawdown_equals_the_definition_bit_for_bit() -> None:
    """The kernel divides only for equities that can deepen the drawdown; the result must still be the
    drawdown of every bar, to the last bit (random walks, long and short, deep losses included)."""
    rng = np.random.default_rng(7)
    n = 600
    close = 100.0 * np.cumprod(1.0 + rng.normal(0.0, 0.03, n))
    bars = Bars.from_arrays(close=close)
    flags = rng.choice(np.array([0, 1, 2, 4, 8]), size=(200, n), p=[0.8, 0.05, 0.05, 0.05, 0.05])
    settings = ExecutionSettings(fill="close", direction="long_short", fee_bps=30)
    result = run_signals(bars, flags, settings)
    deepest = 0.0
    for i, m in enumerate(result.metrics):
        mdd, peak, end = mx.max_drawdown(result.equity[i], settings.cash)
        assert m["max_drawdown"] == mdd
        assert m["max_drawdown_bars"] == (end - peak if mdd < 0 else 0)
        deepest = min(deepest, mdd)
    assert deepest < -0.6  # the walks reach deep drawdowns, where the pre-check matters most
