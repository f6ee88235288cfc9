"""The strategy library: registry, parameter validation, and each strategy's signals against a plain
Python restatement of its rules (TA-Lib indicators, tie-rule crosses, a bar-by-bar reference fill)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib

from zixly_backtester.domain.bars import Bars
from zixly_backtester.domain.engine import TRADE_COLUMNS, ExecutionSettings, run_batch
from zixly_backtester.domain.strategies import (
    STRATEGIES,
    InvalidParameters,
    UnknownStrategy,
    validate_params,
)

ISSUE_STRATEGIES = {
    "sma_cross",
    "ema_cross",
    "macd",
    "rsi_reversion",
    "bollinger_reversion",
    "bollinger_breakout",
    "donchian_breakout",
    "momentum",
    "buy_and_hold",
}


def test_registry_holds_the_issue_strategies_with_documented_params() -> None:
    assert set(STRATEGIES) == ISSUE_STRATEGIES
    for sdef in STRATEGIES.values():
        assert sdef.description
        assert sdef.rules
        for p in sdef.params:
            assert p.kind in ("int", "float")
            assert p.min <= p.default <= p.max
            assert p.description
        validate_params(sdef.name, {})  # defaults are valid
        assert sdef.as_dict()["name"] == sdef.name


def test_validate_params_fills_defaults_and_coerces() -> None:
    assert validate_params("sma_cross", {"fast": 5.0}) == {"fast": 5, "slow": 20}
    assert isinstance(validate_params("sma_cross", {"fast": 5.0})["fast"], int)
    assert validate_params("rsi_reversion", {"lower": 25}) == {"period": 14, "lower": 25.0, "upper": 70.0}


@pytest.mark.parametrize(
    ("strategy", "params", "message"),
    [
        ("sma_cross", {"fast": 0}, "outside"),
        ("sma_cross", {"fast": 2.5}, "whole number"),
        ("sma_cross", {"fast": "ten"}, "must be a number"),
        ("sma_cross", {"fast": math.nan}, "finite"),
        ("sma_cross", {"fast": True}, "must be a number"),
        ("sma_cross", {"fats": 3}, "no parameter"),
        ("macd", {"fast": 30, "slow": 26}, "must be below"),
        ("macd", {"signal": 1}, r"macd.signal = 1 is outside \[2, 1000\]"),
        ("rsi_reversion", {"lower": 80}, "must be below"),
        ("bollinger_breakout", {"k": 0}, "outside"),
    ],
)
def test_invalid_parameters_are_rejected_clearly(strategy: str, params: dict, message: str) -> None:
    with pytest.raises(InvalidParameters, match=message):
        validate_params(strategy, params)


def test_unknown_strategy() -> None:
    with pytest.raises(UnknownStrategy, match="unknown strategy 'nope'; known: bollinger_breakout"):
        validate_params("nope", {})
    assert issubclass(UnknownStrategy, ValueError)
    assert issubclass(InvalidParameters, ValueError)


# ---- a plain restatement of every strategy


def crosses(x: np.ndarray, line: np.ndarray, direction: int) -> np.ndarray:
    out = np.zeros(len(x), dtype=bool)
    last = 0
    for t in range(len(x)):
        if math.isnan(x[t]) or math.isnan(line[t]):
            continue
        s = int(x[t] > line[t]) - int(x[t] < line[t])
        if s == 0:
            continue
        out[t] = s == direction and last == -s
        last = s
    return out


def shifted(a: np.ndarray) -> np.ndarray:
    return np.concatenate(([np.nan], a[:-1]))


def reference_events(bars: Bars, strategy: str, p: dict) -> tuple[np.ndarray, ...]:
    """(enter long, exit long, enter short, exit short) as boolean rows."""
    c, h, lo = bars.close, bars.high, bars.low
    n = len(c)
    if strategy in ("sma_cross", "ema_cross"):
        ma = talib.SMA if strategy == "sma_cross" else talib.EMA
        f, s = ma(c, p["fast"]), ma(c, p["slow"])
        up, down = crosses(f, s, 1), crosses(f, s, -1)
        return up, down, down, up
    if strategy == "macd":
        m, sig, _ = talib.MACD(c, p["fast"], p["slow"], p["signal"])
        up, down = crosses(m, sig, 1), crosses(m, sig, -1)
        return up, down, down, up
    if strategy == "rsi_reversion":
        r = talib.RSI(c, p["period"])
        lower, upper = np.full(n, p["lower"]), np.full(n, p["upper"])
        return crosses(r, lower, -1), crosses(r, upper, 1), crosses(r, upper, 1), crosses(r, lower, -1)
    if strategy in ("bollinger_reversion", "bollinger_breakout"):
        up, mid, low = talib.BBANDS(c, p["period"], p["k"], p["k"], 0)
        if strategy == "bollinger_breakout":
            return crosses(c, up, 1), crosses(c, mid, -1), crosses(c, low, -1), crosses(c, mid, 1)
        return crosses(c, low, -1), crosses(c, mid, 1), crosses(c, up, 1), crosses(c, mid, -1)
    if strategy == "donchian_breakout":
        hi_e, lo_e = shifted(talib.MAX(h, p["entry"])), shifted(talib.MIN(lo, p["entry"]))
        hi_x, lo_x = shifted(talib.MAX(h, p["exit"])), shifted(talib.MIN(lo, p["exit"]))
        return crosses(c, hi_e, 1), crosses(c, lo_x, -1), crosses(c, lo_e, -1), crosses(c, hi_x, 1)
    if strategy == "momentum":
        roc = talib.ROC(c, p["period"])
        up, dn = np.full(n, p["threshold"]), np.full(n, -p["threshold"])
        return crosses(roc, up, 1), crosses(roc, dn, -1), crosses(roc, dn, -1), crosses(roc, up, 1)
    assert strategy == "buy_and_hold"
    first = np.zeros(n, dtype=bool)
    first[0] = True
    none = np.zeros(n, dtype=bool)
    return first, none, none, none


def reference_run(
    bars: Bars, events: tuple[np.ndarray, ...], long_short: bool, next_open: bool
) -> tuple[float, int]:
    """Final equity and closed-trade count of a fractional, cost-free run."""
    enter_long, exit_long, enter_short, exit_short = events
    cash, units, pos, closed, pending = 10_000.0, 0.0, 0, 0, None
    for t in range(len(bars)):
        if next_open and pending is not None:
            cash, units, pos, closed = fill(cash, units, pos, closed, pending, bars.open[t])
            pending = None
        target = pos
        if pos > 0:
            target = -1 if long_short and enter_short[t] else (0 if exit_long[t] else pos)
        elif pos < 0:
            target = 1 if enter_long[t] else (0 if exit_short[t] else pos)
        elif enter_long[t]:
            target = 1
        elif long_short and enter_short[t]:
            target = -1
        if target != pos:
            if next_open:
                pending = target
            else:
                cash, units, pos, closed = fill(cash, units, pos, closed, target, bars.close[t])
    return cash + units * bars.close[-1], closed


def fill(
    cash: float, units: float, pos: int, closed: int, target: int, price: float
) -> tuple[float, float, int, int]:
    if pos != 0:
        cash += units * price
        units, pos, closed = 0.0, 0, closed + 1
    if target != 0 and cash > 0:  # a ruined account opens nothing
        units = target * cash / price
        cash -= units * price
        pos = target
    return cash, units, pos, closed


CASES = [
    ("sma_cross", {"fast": 10, "slow": 30}),
    ("ema_cross", {"fast": 12, "slow": 26}),
    ("macd", {"fast": 12, "slow": 26, "signal": 9}),
    ("rsi_reversion", {"period": 14, "lower": 30.0, "upper": 70.0}),
    ("bollinger_reversion", {"period": 20, "k": 2.0}),
    ("bollinger_breakout", {"period": 20, "k": 1.5}),
    ("donchian_breakout", {"entry": 20, "exit": 10}),
    ("momentum", {"period": 10, "threshold": 2.0}),
    ("buy_and_hold", {}),
]


@pytest.mark.parametrize(("strategy", "params"), CASES)
@pytest.mark.parametrize("direction", ["long_only", "long_short"])
@pytest.mark.parametrize("fill_mode", ["close", "next_open"])
def test_strategy_matches_its_rules(
    goog: Bars, strategy: str, params: dict, direction: str, fill_mode: str
) -> None:
    settings = ExecutionSettings(fill=fill_mode, direction=direction)  # type: ignore[arg-type]
    result = run_batch(goog, strategy, [params], settings)
    events = reference_events(goog, strategy, params)
    final, closed = reference_run(goog, events, direction == "long_short", fill_mode == "next_open")
    m = result.metrics[0]
    assert m["final_equity"] == pytest.approx(final, rel=1e-9)
    assert m["closed_trades"] == closed
    if strategy != "buy_and_hold":
        assert closed >= 1  # the case exercises the rules


def test_every_strategy_runs_a_batch_of_mixed_params(eurusd: Bars) -> None:
    for name, sdef in STRATEGIES.items():
        sets = [sdef.defaults]
        for p in sdef.params:
            changed = dict(sdef.defaults)
            if p.kind == "int":
                changed[p.name] = max(int(p.min), int(p.default) - 1)
            else:
                changed[p.name] = p.default * 0.9
            try:
                sets.append(validate_params(name, changed))
            except InvalidParameters:
                pass
        batch = run_batch(eurusd, name, sets, ExecutionSettings(periods_per_year=6_000, fee_bps=1))
        assert batch.equity.shape == (len(sets), len(eurusd))
        assert np.isfinite(batch.equity).all()
        for i, p in enumerate(sets):
            single = run_batch(eurusd, name, [p], ExecutionSettings(periods_per_year=6_000, fee_bps=1))
            assert single.metrics[0] == batch.metrics[i]


def test_trades_frame(goog: Bars) -> None:
    result = run_batch(goog, "sma_cross", [{"fast": 10, "slow": 20}], ExecutionSettings(), with_trades=True)
    df = result.trades_frame()
    assert list(df.columns) == list(TRADE_COLUMNS)
    assert df["open"].sum() == 1
    assert set(df["exit_reason"]) == {"signal", "end"}


def test_batch_validation_matches_one_by_one() -> None:
    from zixly_backtester.domain.strategies import validate_param_sets

    sets = [{"fast": 5, "slow": 20.0}, {"slow": 30}, {"fast": np.int64(7), "slow": 40}]
    assert validate_param_sets("sma_cross", sets) == [validate_params("sma_cross", p) for p in sets]
    assert validate_param_sets("buy_and_hold", [{}, {}]) == [{}, {}]
    for bad, message in [
        ([{"fast": 5}, {"fast": 2.5}], "whole number"),
        ([{"fast": 5}, {"fast": True}], "must be a number"),
        ([{"fast": 5}, {"fats": 5}], "no parameter"),
        ([{"fast": 12, "slow": 26}, {"fast": 26, "slow": 12}], "must be below"),
    ]:
        with pytest.raises(InvalidParameters, match=message):
            validate_param_sets("sma_cross" if "must be below" not in message else "macd", bad)


def test_run_batch_rejects_a_bad_set_in_a_batch(goog: Bars) -> None:
    with pytest.raises(InvalidParameters, match=r"sma_cross.slow = 0 is outside \[1, 10000\]"):
        run_batch(goog, "sma_cross", [{"fast": 5, "slow": 20}, {"fast": 5, "slow": 0}], ExecutionSettings())
