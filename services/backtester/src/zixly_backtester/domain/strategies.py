"""The strategy library: documented parameters, validation, and the signals of each strategy.

Every strategy is expressed as four *events* computed on each bar's close — enter long, exit long,
enter short, exit short — each the crossing of a series ``x`` over a line in one direction, under the
tie rule (a cross happens at *t* when the sign of ``x − line`` differs from its last
non-zero sign before *t*). In ``long_only`` mode the two short events are ignored; in ``long_short``
mode an opposite entry reverses the position. Indicators come from TA-Lib and are computed once per
distinct parameter value, then shared by every parameter set of the batch that uses them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

UP = 1
DOWN = -1


class UnknownStrategy(ValueError):
    """No strategy of that name."""


class InvalidParameters(ValueError):
    """A parameter set does not fit the strategy."""


@dataclass(frozen=True)
class ParamDef:
    name: str
    kind: Literal["int", "float"]
    min: float
    max: float
    default: int | float
    description: str

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.kind,
            "min": self.min,
            "max": self.max,
            "default": self.default,
            "description": self.description,
        }


@dataclass(frozen=True)
class SignalPlan:
    """What the kernel needs for one batch: indicator rows and, per parameter set, which rows to use.

    ``x[ix[c]]`` is crossed against ``lines[il[c, k]]`` for event ``k`` (enter long, exit long,
    enter short, exit short) in direction ``dirs[k]``. With ``flags`` set, ``flags[ix[c]]`` holds the
    events of each bar as bit flags instead (1 enter long, 2 exit long, 4 enter short, 8 exit short).
    """

    x: np.ndarray
    lines: np.ndarray
    ix: np.ndarray
    il: np.ndarray
    dirs: np.ndarray
    flags: np.ndarray | None = None


@dataclass(frozen=True)
class PriceData:
    """Forward-filled prices that indicators are computed on."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray


@dataclass(frozen=True)
class StrategyDef:
    name: str
    description: str
    rules: str
    params: tuple[ParamDef, ...]
    plan: Callable[[PriceData, Sequence[Mapping[str, float]]], SignalPlan] = field(repr=False)
    requires: tuple[tuple[str, str, str], ...] = ()
    """Relations between parameters that every parameter set must satisfy, as data: (left, op, right)."""

    def param(self, name: str) -> ParamDef:
        for p in self.params:
            if p.name == name:
                return p
        raise InvalidParameters(f"{self.name} has no parameter {name!r}")

    @property
    def defaults(self) -> dict[str, int | float]:
        return {p.name: p.default for p in self.params}

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "rules": self.rules,
            "params": [p.as_dict() for p in self.params],
            "requires": [" ".join(r) for r in self.requires],
        }


# ---------------------------------------------------------------------------------------------------
# indicator rows, computed once per distinct parameter value


class _Rows:
    """Collects distinct indicator rows; ``add(key, fn)`` returns the row index of ``key``."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._index: dict[object, int] = {}
        self._rows: list[np.ndarray] = []

    def add(self, key: object, fn: Callable[[], np.ndarray]) -> int:
        i = self._index.get(key)
        if i is None:
            row = np.ascontiguousarray(fn(), dtype=np.float64)
            assert row.shape == (self.n,)
            i = len(self._rows)
            self._index[key] = i
            self._rows.append(row)
        return i

    def matrix(self) -> np.ndarray:
        if not self._rows:
            return np.zeros((1, self.n))
        return np.ascontiguousarray(np.vstack(self._rows))


def _talib() -> object:
    import talib

    return talib


def _sma(close: np.ndarray, n: int) -> np.ndarray:
    if n == 1:
        return close.copy()
    return _talib().SMA(close, timeperiod=n)  # type: ignore[attr-defined,no-any-return]


def _ema(close: np.ndarray, n: int) -> np.ndarray:
    if n == 1:
        return close.copy()
    return _talib().EMA(close, timeperiod=n)  # type: ignore[attr-defined,no-any-return]


def _shift(a: np.ndarray) -> np.ndarray:
    out = np.empty_like(a)
    out[0] = np.nan
    out[1:] = a[:-1]
    return out


def _const(n: int, value: float) -> np.ndarray:
    return np.full(n, value, dtype=np.float64)


def _plan(
    x: _Rows, lines: _Rows, ix: list[int], il: list[tuple[int, int, int, int]], dirs: tuple[int, ...]
) -> SignalPlan:
    return SignalPlan(
        x=x.matrix(),
        lines=lines.matrix(),
        ix=np.asarray(ix, dtype=np.int64),
        il=np.asarray(il, dtype=np.int64).reshape(len(ix), 4),
        dirs=np.asarray(dirs, dtype=np.int64),
    )


def _ma_cross_plan(ma: Callable[[np.ndarray, int], np.ndarray]) -> Callable[..., SignalPlan]:
    def plan(px: PriceData, param_sets: Sequence[Mapping[str, float]]) -> SignalPlan:
        rows = _Rows(len(px.close))
        ix, il = [], []
        for p in param_sets:
            f, s = int(p["fast"]), int(p["slow"])
            i_f = rows.add(f, lambda f=f: ma(px.close, f))
            i_s = rows.add(s, lambda s=s: ma(px.close, s))
            ix.append(i_f)
            il.append((i_s, i_s, i_s, i_s))
        m = rows.matrix()
        return SignalPlan(
            x=m,
            lines=m,
            ix=np.asarray(ix, dtype=np.int64),
            il=np.asarray(il, dtype=np.int64).reshape(len(ix), 4),
            dirs=np.asarray((UP, DOWN, DOWN, UP), dtype=np.int64),
        )

    return plan


def _macd_plan(px: PriceData, param_sets: Sequence[Mapping[str, float]]) -> SignalPlan:
    n = len(px.close)
    xs, ls = _Rows(n), _Rows(n)
    ix, il = [], []
    cache: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
    for p in param_sets:
        key = (int(p["fast"]), int(p["slow"]), int(p["signal"]))
        if key not in cache:
            macd, sig, _ = _talib().MACD(  # type: ignore[attr-defined]
                px.close, fastperiod=key[0], slowperiod=key[1], signalperiod=key[2]
            )
            cache[key] = (macd, sig)
        i_x = xs.add(key, lambda key=key: cache[key][0])
        i_l = ls.add(key, lambda key=key: cache[key][1])
        ix.append(i_x)
        il.append((i_l, i_l, i_l, i_l))
    return _plan(xs, ls, ix, il, (UP, DOWN, DOWN, UP))


def _rsi_plan(px: PriceData, param_sets: Sequence[Mapping[str, float]]) -> SignalPlan:
    n = len(px.close)
    xs, ls = _Rows(n), _Rows(n)
    ix, il = [], []
    for p in param_sets:
        period, lower, upper = int(p["period"]), float(p["lower"]), float(p["upper"])
        i_x = xs.add(period, lambda period=period: _talib().RSI(px.close, timeperiod=period))  # type: ignore[attr-defined]
        i_lo = ls.add(lower, lambda lower=lower: _const(n, lower))
        i_up = ls.add(upper, lambda upper=upper: _const(n, upper))
        ix.append(i_x)
        # long when RSI falls below `lower`, out when it rises above `upper`; shorts mirror
        il.append((i_lo, i_up, i_up, i_lo))
    return _plan(xs, ls, ix, il, (DOWN, UP, UP, DOWN))


def _bbands(
    px: PriceData, cache: dict[tuple[int, float], tuple[np.ndarray, ...]], key: tuple[int, float]
) -> None:
    if key not in cache:
        up, mid, lo = _talib().BBANDS(  # type: ignore[attr-defined]
            px.close, timeperiod=key[0], nbdevup=key[1], nbdevdn=key[1], matype=0
        )
        cache[key] = (up, mid, lo)


def _bollinger_plan(breakout: bool) -> Callable[..., SignalPlan]:
    def plan(px: PriceData, param_sets: Sequence[Mapping[str, float]]) -> SignalPlan:
        n = len(px.close)
        xs, ls = _Rows(n), _Rows(n)
        i_x = xs.add("close", lambda: px.close)
        cache: dict[tuple[int, float], tuple[np.ndarray, ...]] = {}
        ix, il = [], []
        for p in param_sets:
            key = (int(p["period"]), float(p["k"]))
            _bbands(px, cache, key)
            i_up = ls.add(("up", key), lambda key=key: cache[key][0])
            i_mid = ls.add(("mid", key[0]), lambda key=key: cache[key][1])
            i_lo = ls.add(("lo", key), lambda key=key: cache[key][2])
            ix.append(i_x)
            if breakout:
                il.append((i_up, i_mid, i_lo, i_mid))
            else:
                il.append((i_lo, i_mid, i_up, i_mid))
        dirs = (UP, DOWN, DOWN, UP) if breakout else (DOWN, UP, UP, DOWN)
        return _plan(xs, ls, ix, il, dirs)

    return plan


def _donchian_plan(px: PriceData, param_sets: Sequence[Mapping[str, float]]) -> SignalPlan:
    n = len(px.close)
    xs, ls = _Rows(n), _Rows(n)
    i_x = xs.add("close", lambda: px.close)
    ix, il = [], []

    def hi(k: int) -> np.ndarray:
        return _shift(px.high if k == 1 else _talib().MAX(px.high, timeperiod=k))  # type: ignore[attr-defined]

    def lo(k: int) -> np.ndarray:
        return _shift(px.low if k == 1 else _talib().MIN(px.low, timeperiod=k))  # type: ignore[attr-defined]

    for p in param_sets:
        e, x = int(p["entry"]), int(p["exit"])
        i_hi_e = ls.add(("hi", e), lambda e=e: hi(e))
        i_lo_e = ls.add(("lo", e), lambda e=e: lo(e))
        i_hi_x = ls.add(("hi", x), lambda x=x: hi(x))
        i_lo_x = ls.add(("lo", x), lambda x=x: lo(x))
        ix.append(i_x)
        il.append((i_hi_e, i_lo_x, i_lo_e, i_hi_x))
    return _plan(xs, ls, ix, il, (UP, DOWN, DOWN, UP))


def _momentum_plan(px: PriceData, param_sets: Sequence[Mapping[str, float]]) -> SignalPlan:
    n = len(px.close)
    xs, ls = _Rows(n), _Rows(n)
    ix, il = [], []
    for p in param_sets:
        period, thr = int(p["period"]), float(p["threshold"])
        i_x = xs.add(period, lambda period=period: _talib().ROC(px.close, timeperiod=period))  # type: ignore[attr-defined]
        i_up = ls.add(thr, lambda thr=thr: _const(n, thr))
        i_dn = ls.add(-thr, lambda thr=thr: _const(n, -thr))
        ix.append(i_x)
        il.append((i_up, i_dn, i_dn, i_up))
    return _plan(xs, ls, ix, il, (UP, DOWN, DOWN, UP))


def _hold_plan(px: PriceData, param_sets: Sequence[Mapping[str, float]]) -> SignalPlan:
    n = len(px.close)
    flags = np.zeros((1, n), dtype=np.int64)
    valid = np.flatnonzero(~np.isnan(px.close))
    if len(valid):
        flags[0, valid[0]] = 1  # enter long on the first bar's close
    return SignalPlan(
        x=np.zeros((1, n)),
        lines=np.zeros((1, n)),
        ix=np.zeros(len(param_sets), dtype=np.int64),
        il=np.zeros((len(param_sets), 4), dtype=np.int64),
        dirs=np.asarray((UP, DOWN, DOWN, UP), dtype=np.int64),
        flags=flags,
    )


# ---------------------------------------------------------------------------------------------------
# the registry

_MAX_PERIOD = 10_000


COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_OP_TEXT = {
    "<": "below",
    "<=": "at most",
    ">": "above",
    ">=": "at least",
    "==": "equal to",
    "!=": "different from",
}


STRATEGIES: dict[str, StrategyDef] = {
    s.name: s
    for s in (
        StrategyDef(
            name="sma_cross",
            description="Simple moving average crossover.",
            rules="Long when SMA(fast) crosses above SMA(slow); out (or short) when it crosses below.",
            params=(
                ParamDef("fast", "int", 1, _MAX_PERIOD, 10, "bars of the fast SMA (1 = the close itself)"),
                ParamDef("slow", "int", 1, _MAX_PERIOD, 20, "bars of the slow SMA"),
            ),
            plan=_ma_cross_plan(_sma),
        ),
        StrategyDef(
            name="ema_cross",
            description="Exponential moving average crossover.",
            rules="Long when EMA(fast) crosses above EMA(slow); out (or short) when it crosses below.",
            params=(
                ParamDef("fast", "int", 1, _MAX_PERIOD, 12, "bars of the fast EMA (1 = the close itself)"),
                ParamDef("slow", "int", 1, _MAX_PERIOD, 26, "bars of the slow EMA"),
            ),
            plan=_ma_cross_plan(_ema),
        ),
        StrategyDef(
            name="macd",
            description="MACD line against its signal line.",
            rules="Long when MACD crosses above its signal line; out (or short) when it crosses below.",
            params=(
                ParamDef("fast", "int", 2, 1_000, 12, "bars of the fast EMA"),
                ParamDef("slow", "int", 2, 1_000, 26, "bars of the slow EMA"),
                ParamDef(
                    "signal",
                    "int",
                    2,
                    1_000,
                    9,
                    "bars of the signal line EMA (one bar would be the MACD line)",
                ),
            ),
            plan=_macd_plan,
            requires=(("fast", "<", "slow"),),
        ),
        StrategyDef(
            name="rsi_reversion",
            description="RSI mean reversion.",
            rules=(
                "Long when RSI(period) falls below `lower`; out when it rises above `upper`. "
                "Short when it rises above `upper`; covered when it falls below `lower`."
            ),
            params=(
                ParamDef("period", "int", 2, 1_000, 14, "bars of the RSI"),
                ParamDef("lower", "float", 0, 100, 30.0, "oversold level"),
                ParamDef("upper", "float", 0, 100, 70.0, "overbought level"),
            ),
            plan=_rsi_plan,
            requires=(("lower", "<", "upper"),),
        ),
        StrategyDef(
            name="bollinger_reversion",
            description="Bollinger band mean reversion.",
            rules=(
                "Long when the close falls below the lower band; out when it rises above the middle band. "
                "Short when it rises above the upper band; covered when it falls below the middle band."
            ),
            params=(
                ParamDef("period", "int", 2, _MAX_PERIOD, 20, "bars of the middle band (SMA)"),
                ParamDef("k", "float", 0.1, 10, 2.0, "band width in standard deviations"),
            ),
            plan=_bollinger_plan(breakout=False),
        ),
        StrategyDef(
            name="bollinger_breakout",
            description="Bollinger band breakout.",
            rules=(
                "Long when the close rises above the upper band; out when it falls below the middle band. "
                "Short when it falls below the lower band; covered when it rises above the middle band."
            ),
            params=(
                ParamDef("period", "int", 2, _MAX_PERIOD, 20, "bars of the middle band (SMA)"),
                ParamDef("k", "float", 0.1, 10, 2.0, "band width in standard deviations"),
            ),
            plan=_bollinger_plan(breakout=True),
        ),
        StrategyDef(
            name="donchian_breakout",
            description="Donchian channel breakout (turtle style).",
            rules=(
                "Long when the close rises above the highest high of the previous `entry` bars; out when "
                "it falls below the lowest low of the previous `exit` bars. Shorts mirror."
            ),
            params=(
                ParamDef("entry", "int", 1, _MAX_PERIOD, 20, "bars of the entry channel"),
                ParamDef("exit", "int", 1, _MAX_PERIOD, 10, "bars of the exit channel"),
            ),
            plan=_donchian_plan,
        ),
        StrategyDef(
            name="momentum",
            description="Rate-of-change momentum.",
            rules=(
                "Long when ROC(period) in percent rises above `threshold`; out (or short) when it falls "
                "below −`threshold`; a short is covered when it rises above `threshold`."
            ),
            params=(
                ParamDef("period", "int", 1, _MAX_PERIOD, 10, "bars of the rate of change"),
                ParamDef("threshold", "float", 0, 1_000, 0.0, "entry level in percent"),
            ),
            plan=_momentum_plan,
        ),
        StrategyDef(
            name="buy_and_hold",
            description="Buy on the first bar and hold: the baseline every sweep reports.",
            rules="Enter long on the first bar's signal; never exit (stops still apply).",
            params=(),
            plan=_hold_plan,
        ),
    )
}


def get_strategy(name: str) -> StrategyDef:
    try:
        return STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(STRATEGIES))
        raise UnknownStrategy(f"unknown strategy {name!r}; known: {known}") from None


def coerce_param(strategy: str, p: ParamDef, value: object) -> int | float:
    """One value checked against its definition; integral floats are accepted for int parameters."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidParameters(f"{strategy}.{p.name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InvalidParameters(f"{strategy}.{p.name} must be finite, got {value!r}")
    if p.kind == "int":
        if v != math.floor(v):
            raise InvalidParameters(f"{strategy}.{p.name} must be a whole number, got {value!r}")
        out: int | float = int(v)
    else:
        out = v
    if not p.min <= v <= p.max:
        raise InvalidParameters(f"{strategy}.{p.name} = {value!r} is outside [{p.min:g}, {p.max:g}]")
    return out


def validate_params(strategy: str, params: Mapping[str, object]) -> dict[str, int | float]:
    """The full, checked parameter set (omitted parameters take their defaults)."""
    sdef = get_strategy(strategy)
    names = {p.name for p in sdef.params}
    unknown = sorted(set(params) - names)
    if unknown:
        allowed = ", ".join(sorted(names)) or "none"
        raise InvalidParameters(f"{strategy} has no parameter(s) {', '.join(unknown)}; allowed: {allowed}")
    out: dict[str, int | float] = {}
    for p in sdef.params:
        out[p.name] = coerce_param(strategy, p, params.get(p.name, p.default))
    for left, op, right in sdef.requires:
        if not COMPARISONS[op](out[left], out[right]):
            raise InvalidParameters(
                f"{strategy}: {left} ({out[left]}) must be {_OP_TEXT[op]} {right} ({out[right]})"
            )
    return out


def validate_param_sets(
    strategy: str, param_sets: Sequence[Mapping[str, object]]
) -> list[dict[str, int | float]]:
    """:func:`validate_params` for a whole batch, checked column-wise; the first bad set raises its
    own clear message."""
    sdef = get_strategy(strategy)
    names = [p.name for p in sdef.params]
    allowed = set(names)
    if not param_sets:
        return []
    if not names:
        return [validate_params(strategy, p) for p in param_sets]
    ok = all(allowed.issuperset(p) for p in param_sets)
    columns: dict[str, list[object]] = {}
    if ok:
        for p in sdef.params:
            col = [ps.get(p.name, p.default) for ps in param_sets]
            if not all(type(v) is int or type(v) is float for v in col):
                ok = False
                break
            arr = np.asarray(col, dtype=np.float64)
            good = np.isfinite(arr) & (arr >= p.min) & (arr <= p.max)
            if p.kind == "int":
                good &= arr == np.floor(arr)
            if not good.all():
                ok = False
                break
            columns[p.name] = arr.astype(np.int64).tolist() if p.kind == "int" else arr.tolist()
    if ok:
        for left, op, right in sdef.requires:
            a = np.asarray(columns[left], dtype=np.float64)
            b = np.asarray(columns[right], dtype=np.float64)
            if not COMPARISONS[op](a, b).all():  # type: ignore[arg-type]
                ok = False
                break
    if not ok:
        return [validate_params(strategy, p) for p in param_sets]  # raises with the first problem
    return [dict(zip(names, row, strict=True)) for row in zip(*(columns[n] for n in names), strict=True)]
