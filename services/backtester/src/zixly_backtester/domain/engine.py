"""The vectorized batch engine: one call runs every parameter set of one strategy on one dataset.

The execution model and the metric definitions (``METRIC_TEXT``; the README's engine section) are
echoed by :meth:`ExecutionSettings.definitions` with every result. The simulation itself is a numba kernel
(:mod:`._kernels`), compiled once into an on-disk cache and loaded lazily on the first run.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Literal

import numpy as np

from zixly_backtester.domain.bars import Bars
from zixly_backtester.domain.strategies import PriceData, SignalPlan, get_strategy, validate_param_sets
from zixly_contracts.metrics import METRIC_NAMES
from zixly_contracts.sweep_spec import CASH_BOUND_ERROR, MAX_CASH

INT_METRICS = frozenset({"max_drawdown_bars", "closed_trades", "open_trades"})
METRIC_DEFINITIONS_VERSION = "zixly-metrics/1"

TRADE_COLUMNS: tuple[str, ...] = (
    "param_set",
    "direction",
    "entry_bar",
    "exit_bar",
    "units",
    "entry_price",
    "exit_price",
    "fees",
    "pnl",
    "return",
    "open",
    "exit_reason",
)
EXIT_REASONS: tuple[str, ...] = ("signal", "stop_loss", "take_profit", "end")

TIE_RULE = (
    "a cross happens at t when the sign of (x - line) at t differs from its last non-zero sign "
    "before t; exact ties neither create nor hide a cross, and a difference within 8 ulps of the "
    "operands (an indicator's floating-point rounding on a flat run) is a tie"
)
METRIC_TEXT: dict[str, str] = {
    "returns": "r_t = (E_t - E_(t-1)) / |E_(t-1)| on close-marked equity (= E_t / E_(t-1) - 1 while "
    "equity is positive), E_(-1) = initial cash; N = number of bars",
    "total_return": "E_T / cash - 1 (open trades marked at the last close)",
    "cagr": "(E_T / cash) ** (P / N) - 1",
    "annual_volatility": "std(r, ddof=1) * sqrt(P)",
    "sharpe": "mean(r - rf/P) / std(r - rf/P, ddof=1) * sqrt(P)",
    "sortino": "mean(r - rf/P) / sqrt(mean(min(r - rf/P, 0)^2)) * sqrt(P)",
    "calmar": "cagr / |max_drawdown|",
    "max_drawdown": "min_t(E_t / max_(s<=t) E_s - 1) <= 0, initial cash counting as the first peak",
    "max_drawdown_duration": "bars and days from the deepest drawdown's peak to its recovery (or the end)",
    "exposure": "share of bars with a position held at the close",
    "win_rate": "closed trades with net PnL > 0 / closed trades",
    "profit_factor": "sum of winning net PnL / |sum of losing net PnL| (null without a loss)",
    "avg_trade": "mean net return of closed trades, PnL / (units * entry fill price)",
    "expectancy": "mean net PnL of closed trades, in cash",
    "sqn": "sqrt(n) * mean(PnL) / std(PnL, ddof=1) over closed trades",
    "nulls": "fewer than two returns, zero variance or no trades: the ratio is null",
}


@dataclass(frozen=True)
class ExecutionSettings:
    """How orders fill and what they cost; mirrors ``zixly_contracts.sweep_spec.Execution``."""

    cash: float = 10_000.0
    fill: Literal["next_open", "close"] = "next_open"
    units: Literal["fractional", "whole"] = "fractional"
    direction: Literal["long_only", "long_short"] = "long_only"
    fee_bps: float = 0.0
    fixed_fee: float = 0.0
    slippage_bps: float = 0.0
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    risk_free_rate: float = 0.0
    periods_per_year: float = 252.0

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.cash) and 0 < self.cash <= MAX_CASH):
            problems.append(CASH_BOUND_ERROR)
        if self.fill not in ("next_open", "close"):
            problems.append("fill must be next_open or close")
        if self.units not in ("fractional", "whole"):
            problems.append("units must be fractional or whole")
        if self.direction not in ("long_only", "long_short"):
            problems.append("direction must be long_only or long_short")
        if not -100 <= self.fee_bps <= 1_000:
            problems.append("fee_bps must be within [-100, 1000]")
        if not (math.isfinite(self.fixed_fee) and self.fixed_fee >= 0):
            problems.append("fixed_fee must be >= 0")
        if not 0 <= self.slippage_bps <= 1_000:
            problems.append("slippage_bps must be within [0, 1000]")
        if self.stop_loss_pct is not None and not 0 < self.stop_loss_pct < 100:
            problems.append("stop_loss_pct must be within (0, 100)")
        if self.take_profit_pct is not None and not (
            math.isfinite(self.take_profit_pct) and self.take_profit_pct > 0
        ):
            problems.append("take_profit_pct must be positive")
        if not -1 <= self.risk_free_rate <= 1:
            problems.append("risk_free_rate must be within [-1, 1]")
        if not (math.isfinite(self.periods_per_year) and 0 < self.periods_per_year <= 1_000_000):
            problems.append("periods_per_year must be within (0, 1e6]")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_execution(cls, execution: object, periods_per_year: float) -> ExecutionSettings:
        """From a ``zixly_contracts.sweep_spec.Execution`` (or anything with its fields)."""
        names = [f for f in cls.__dataclass_fields__ if f != "periods_per_year"]
        return cls(**{f: getattr(execution, f) for f in names}, periods_per_year=periods_per_year)

    def definitions(self) -> dict[str, object]:
        """Everything a result depends on besides the data and the parameters (echoed with it)."""
        return {
            **asdict(self),
            "metric_definitions_version": METRIC_DEFINITIONS_VERSION,
            "signal": "computed on each bar's close",
            "fill_rule": ("next bar's open" if self.fill == "next_open" else "the signal bar's close")
            + "; no fill on a NaN bar (the order waits for the next bar that trades)",
            "tie_rule": TIE_RULE,
            "sizing": (
                "all-in, fee-aware: the most "
                + ("whole" if self.units == "whole" else "fractional")
                + " units whose cost, relative fee and fixed fee fit into the cash"
            ),
            "costs": (
                "relative fee fee_bps of notional per order (negative = rebate) + fixed_fee per order; "
                "slippage slippage_bps moves every fill price against the trader"
            ),
            "stops": (
                "stop_loss_pct / take_profit_pct from the entry fill price before slippage, checked from the "
                "entry bar on (from the next bar when filled at the close); a gap through the level fills at "
                "the open; if both levels are touched within one bar the stop-loss is assumed first"
            ),
            "valuation": "equity marked to market at every close, NaN closes forward-filled",
            "rf_per_bar": self.risk_free_rate / self.periods_per_year,
            "metrics": METRIC_TEXT,
        }


@dataclass(frozen=True)
class BatchResult:
    metrics: list[dict[str, float | int | None]]
    equity: np.ndarray
    trades: np.ndarray | None = field(default=None, repr=False)
    """Closed and open trades, one row per trade, columns ``TRADE_COLUMNS`` (only if asked for)."""

    def trades_frame(self) -> object:
        """The trades as a pandas DataFrame (``exit_reason`` as text, ``open`` as bool)."""
        import pandas as pd

        rows = self.trades if self.trades is not None else np.zeros((0, len(TRADE_COLUMNS)))
        df = pd.DataFrame(rows, columns=list(TRADE_COLUMNS))
        for col in ("param_set", "direction", "entry_bar", "exit_bar"):
            df[col] = df[col].astype(np.int64)
        df["open"] = df["open"].astype(bool)
        df["exit_reason"] = [EXIT_REASONS[int(r)] for r in df["exit_reason"]]
        return df


# ---------------------------------------------------------------------------------------------------
# the compiled kernel, loaded on first use

_KERNELS: ModuleType | None = None


def default_numba_cache_dir() -> str:
    """Where compiled kernels are cached unless ``NUMBA_CACHE_DIR`` says otherwise (always writable)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    candidate = os.path.join(base, "zixly", "numba")
    try:
        os.makedirs(candidate, exist_ok=True)
        if os.access(candidate, os.W_OK):
            return candidate
    except OSError:
        pass
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), f"zixly-numba-{uid}")


def kernels() -> ModuleType:
    """Import (and on the very first run compile) the numba kernel."""
    global _KERNELS
    if _KERNELS is None:
        if not os.environ.get("NUMBA_CACHE_DIR"):
            os.environ["NUMBA_CACHE_DIR"] = default_numba_cache_dir()
        import numba

        if not numba.config.CACHE_DIR:
            numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
        from zixly_backtester.domain import _kernels

        _KERNELS = _kernels
    return _KERNELS


# ---------------------------------------------------------------------------------------------------


def _ffill(a: np.ndarray) -> np.ndarray:
    mask = np.isnan(a)
    if not mask.any():
        return a
    idx = np.where(~mask, np.arange(len(a)), 0)
    np.maximum.accumulate(idx, out=idx)
    return a[idx]  # leading NaNs stay NaN (they map to a[0])


def price_data(bars: Bars) -> PriceData:
    """Forward-filled prices, the ones indicators and valuation read."""
    return PriceData(
        open=_ffill(bars.open), high=_ffill(bars.high), low=_ffill(bars.low), close=_ffill(bars.close)
    )


def run_plan(
    bars: Bars,
    plan: SignalPlan,
    settings: ExecutionSettings,
    *,
    with_trades: bool = False,
    fixed_units: float | None = None,
) -> BatchResult:
    """Run a prepared signal plan (see :class:`SignalPlan`) through the kernel."""
    k = kernels()
    n = len(bars)
    n_sets = len(plan.ix)
    px = price_data(bars)
    tradable = ~(np.isnan(bars.open) | np.isnan(bars.close))
    equity = np.empty((n_sets, n), dtype=np.float64)
    metrics = np.empty((n_sets, k.N_METRICS), dtype=np.float64)
    flags = plan.flags if plan.flags is not None else np.zeros((1, 1), dtype=np.int64)
    cap = max(256, n_sets * 8) if with_trades else 0
    while True:
        trades = np.zeros((cap, k.N_TRADE_COLS), dtype=np.float64)
        written = k.simulate_batch(
            px.open,
            px.high,
            px.low,
            px.close,
            tradable,
            bars.timestamps.view(np.int64),
            plan.x,
            plan.lines,
            plan.ix,
            plan.il,
            plan.dirs,
            np.ascontiguousarray(flags, dtype=np.int64),
            plan.flags is not None,
            settings.fill == "close",
            settings.units == "whole",
            settings.direction == "long_short",
            settings.fee_bps / 10_000.0,
            float(settings.fixed_fee),
            settings.slippage_bps / 10_000.0,
            (settings.stop_loss_pct or 0.0) / 100.0,
            (settings.take_profit_pct or 0.0) / 100.0,
            float(settings.cash),
            float(fixed_units or 0.0),
            settings.risk_free_rate / settings.periods_per_year,
            float(settings.periods_per_year),
            equity,
            metrics,
            with_trades,
            trades,
        )
        if written >= 0:
            break
        cap *= 4
    return BatchResult(
        metrics=metrics_to_dicts(metrics),
        equity=equity,
        trades=trades[:written] if with_trades else None,
    )


def metrics_to_dicts(metrics: np.ndarray) -> list[dict[str, float | int | None]]:
    """Kernel metric rows as dicts keyed by ``METRIC_NAMES``: NaN → None, counts as int."""
    obj = metrics.astype(object)
    for j, name in enumerate(METRIC_NAMES):
        if name in INT_METRICS:
            obj[:, j] = metrics[:, j].astype(np.int64).tolist()
    obj[~np.isfinite(metrics)] = None
    return [dict(zip(METRIC_NAMES, row, strict=True)) for row in obj.tolist()]


def run_batch(
    bars: Bars,
    strategy: str,
    param_sets: Sequence[Mapping[str, float]],
    settings: ExecutionSettings,
    *,
    with_trades: bool = False,
) -> BatchResult:
    """Backtest every parameter set of ``strategy`` on ``bars`` in one pass (deterministic)."""
    sdef = get_strategy(strategy)
    checked = validate_param_sets(strategy, param_sets)
    if not checked:
        return BatchResult(metrics=[], equity=np.empty((0, len(bars))), trades=None)
    plan = sdef.plan(price_data(bars), checked)
    return run_plan(bars, plan, settings, with_trades=with_trades)


def run_signals(
    bars: Bars,
    flags: np.ndarray,
    settings: ExecutionSettings,
    *,
    with_trades: bool = False,
    fixed_units: float | None = None,
) -> BatchResult:
    """Run explicit event rows: ``flags[c, t]`` bit 1 enter long, 2 exit long, 4 enter short, 8 exit short.

    ``fixed_units`` trades that many units per entry instead of all-in sizing.
    """
    f = np.atleast_2d(np.asarray(flags, dtype=np.int64))
    if f.shape[1] != len(bars):
        raise ValueError(f"flags have {f.shape[1]} bars, the data {len(bars)}")
    n_sets = f.shape[0]
    plan = SignalPlan(
        x=np.zeros((1, 1)),
        lines=np.zeros((1, 1)),
        ix=np.arange(n_sets, dtype=np.int64),
        il=np.zeros((n_sets, 4), dtype=np.int64),
        dirs=np.zeros(4, dtype=np.int64),
        flags=np.ascontiguousarray(f),
    )
    return run_plan(bars, plan, settings, with_trades=with_trades, fixed_units=fixed_units)


def cache_dir_hint() -> Path:
    return Path(os.environ.get("NUMBA_CACHE_DIR") or default_numba_cache_dir())
