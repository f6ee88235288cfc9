"""The engine against the engines users compare it with, on the 184-combination SMA grid
(fast 5..50 step 5 × slow 20..210 step 10, fast < slow).

vectorbt and backtesting.py are development-only dependencies (test oracles, never shipped). Both get
the same TA-Lib SMA rows as the engine, so what is compared is the execution and the accounting:
long-only, fill at the signal bar's close, 10,000 cash, no fees, whole (and fractional) units.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import talib

from zixly_backtester.domain.bars import Bars
from zixly_backtester.domain.engine import ExecutionSettings, run_batch
from zixly_backtester.domain.grid import expand_grid
from zixly_contracts.sweep_spec import Constraint, Range, StrategyGrid

pytestmark = [
    pytest.mark.oracle,
    pytest.mark.timeout(240),
    # backtesting.py warns that trades are still open at the end: the engine reports those apart
    pytest.mark.filterwarnings("ignore:Some trades remain open at the end of backtest:UserWarning"),
]

GRID = StrategyGrid(
    name="sma_cross",
    grid={"fast": Range(start=5, stop=50, step=5), "slow": Range(start=20, stop=210, step=10)},
    constraints=[Constraint(left="fast", op="<", right="slow")],
)
TOL = 1e-9


@pytest.fixture(scope="module")
def param_sets() -> list[dict[str, int | float]]:
    sets = expand_grid(GRID)
    assert len(sets) == 184
    return sets


def strict_crosses(close: np.ndarray, sets: list[dict[str, int | float]]) -> tuple[np.ndarray, np.ndarray]:
    """(entries, exits), bars × sets: backtesting.py's crossover rule, a[-2] < b[-2] and a[-1] > b[-1]."""
    entries = np.zeros((len(close), len(sets)), dtype=bool)
    exits = np.zeros_like(entries)
    for j, p in enumerate(sets):
        f, s = talib.SMA(close, int(p["fast"])), talib.SMA(close, int(p["slow"]))
        with np.errstate(invalid="ignore"):
            entries[1:, j] = (f[:-1] < s[:-1]) & (f[1:] > s[1:])
            exits[1:, j] = (f[:-1] > s[:-1]) & (f[1:] < s[1:])
    return entries, exits


def vectorbt_values(bars: Bars, sets: list[dict[str, int | float]], whole: bool) -> np.ndarray:
    """vectorbt's close-marked equity, sets × bars."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # vectorbt's own import-time deprecations, not ours
        import vectorbt as vbt
    close = pd.Series(bars.close, index=pd.DatetimeIndex(bars.timestamps))
    entries, exits = strict_crosses(bars.close, sets)
    cols = pd.RangeIndex(len(sets))
    pf = vbt.Portfolio.from_signals(
        close,
        pd.DataFrame(entries, index=close.index, columns=cols),
        pd.DataFrame(exits, index=close.index, columns=cols),
        init_cash=10_000.0,
        size=np.inf,
        size_granularity=1.0 if whole else None,
        fees=0.0,
        freq="1D",
    )
    return np.asarray(pf.value()).T


def backtesting_py_equity(bars: Bars, sets: list[dict[str, int | float]]) -> list[float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from backtesting import Backtest, Strategy
        from backtesting.lib import crossover

    class SmaCross(Strategy):
        fast = 10
        slow = 20

        def init(self) -> None:
            close = np.asarray(self.data.Close, dtype=np.float64)
            self.sma_fast = self.I(talib.SMA, close, self.fast)
            self.sma_slow = self.I(talib.SMA, close, self.slow)

        def next(self) -> None:
            if crossover(self.sma_fast, self.sma_slow):
                if not self.position:
                    self.buy()
            elif crossover(self.sma_slow, self.sma_fast):
                self.position.close()

    df = pd.DataFrame(
        {"Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close, "Volume": bars.volume},
        index=pd.DatetimeIndex(bars.timestamps),
    )
    bt = Backtest(df, SmaCross, cash=10_000, commission=0.0, trade_on_close=True)
    return [float(bt.run(fast=p["fast"], slow=p["slow"])["Equity Final [$]"]) for p in sets]


def test_whole_units_match_vectorbt_on_the_184_grid(goog: Bars, param_sets: list) -> None:
    ours = run_batch(goog, "sma_cross", param_sets, ExecutionSettings(fill="close", units="whole"))
    theirs = vectorbt_values(goog, param_sets, whole=True)
    ours_tr = np.asarray([m["total_return"] for m in ours.metrics])
    np.testing.assert_allclose(ours_tr, theirs[:, -1] / 10_000 - 1, rtol=0, atol=TOL)
    np.testing.assert_allclose(ours.equity, theirs, rtol=TOL, atol=0)
    pinned = {(10, 20): 6.192492, (20, 50): 1.842073, (50, 200): 0.217995}
    for (f, s), expected in pinned.items():
        j = param_sets.index({"fast": f, "slow": s})
        assert theirs[j, -1] / 10_000 - 1 == pytest.approx(expected, abs=1e-6)


def test_fractional_units_match_vectorbt_on_the_184_grid(goog: Bars, param_sets: list) -> None:
    ours = run_batch(goog, "sma_cross", param_sets, ExecutionSettings(fill="close", units="fractional"))
    theirs = vectorbt_values(goog, param_sets, whole=False)
    np.testing.assert_allclose(ours.equity, theirs, rtol=TOL, atol=0)
    j = param_sets.index({"fast": 10, "slow": 20})
    assert ours.metrics[j]["total_return"] == pytest.approx(6.277157, abs=1e-6)


def test_whole_units_match_backtesting_py_on_the_184_grid(goog: Bars, param_sets: list) -> None:
    ours = run_batch(goog, "sma_cross", param_sets, ExecutionSettings(fill="close", units="whole"))
    theirs = np.asarray(backtesting_py_equity(goog, param_sets))
    ours_tr = np.asarray([m["total_return"] for m in ours.metrics])
    np.testing.assert_allclose(ours_tr, theirs / 10_000 - 1, rtol=0, atol=TOL)
