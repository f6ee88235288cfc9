"""The metric definitions (the README's "Metric definitions" table) in plain numpy.

The engine computes the same numbers inside its compiled kernel (in one pass, for speed); these
functions are the readable statement of each definition, used by the tests to check the kernel, by the
overfitting statistics, and by anyone who has an equity curve from elsewhere.

Conventions: ``equity`` is the close-marked equity of each bar; the per-bar returns are
``r_t = E_t / E_(t-1) − 1`` with ``E_(−1)`` the initial cash, so ``N`` bars give ``N`` returns.
A ratio that is undefined (fewer than two returns, zero variance, no trades) is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

NS_PER_DAY = 86_400_000_000_000


def per_bar_returns(equity: np.ndarray, cash: float) -> np.ndarray:
    e = np.asarray(equity, dtype=np.float64)
    prev = np.concatenate(([cash], e[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prev != 0.0, (e - prev) / np.abs(prev), 0.0)
    return r


def sharpe(returns: np.ndarray, risk_free_rate: float = 0.0, periods_per_year: float = 252.0) -> float | None:
    """mean(r − rf/P) / std(r − rf/P, ddof=1) · √P."""
    q = np.asarray(returns, dtype=np.float64) - risk_free_rate / periods_per_year
    if len(q) < 2:
        return None
    std = float(np.sqrt(np.sum((q - q.mean()) ** 2) / (len(q) - 1)))
    if std == 0.0 or np.all(q == q[0]):
        return None
    return float(q.mean() / std * math.sqrt(periods_per_year))


def sortino(
    returns: np.ndarray, risk_free_rate: float = 0.0, periods_per_year: float = 252.0
) -> float | None:
    """mean(r − rf/P) / √mean(min(r − rf/P, 0)²) · √P (full-sample downside deviation)."""
    q = np.asarray(returns, dtype=np.float64) - risk_free_rate / periods_per_year
    if len(q) < 2:
        return None
    dd = downside_deviation(q)
    if dd == 0.0:
        return None
    return float(q.mean() / dd * math.sqrt(periods_per_year))


def downside_deviation(excess: np.ndarray) -> float:
    q = np.asarray(excess, dtype=np.float64)
    return float(np.sqrt(np.mean(np.minimum(q, 0.0) ** 2)))


def annual_volatility(returns: np.ndarray, periods_per_year: float = 252.0) -> float | None:
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2:
        return None
    if np.all(r == r[0]):
        return 0.0
    return float(np.std(r, ddof=1) * math.sqrt(periods_per_year))


def cagr(growth: float, n_returns: int, periods_per_year: float = 252.0) -> float | None:
    """(E_T / E_0)^(P / N) − 1, bar-based; None where it is beyond a double (as the kernel's null)."""
    if n_returns < 2:
        return None
    if growth <= 0:
        return -1.0
    try:
        value = float(growth ** (periods_per_year / n_returns) - 1.0)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def max_drawdown(equity: np.ndarray, cash: float) -> tuple[float, int, int]:
    """(max drawdown ≤ 0, index of its peak, index of its recovery or the last bar).

    The initial cash counts as a peak at bar 0.
    """
    e = np.asarray(equity, dtype=np.float64)
    peaks = np.maximum.accumulate(np.concatenate(([cash], e)))[1:]
    dd = e / peaks - 1.0
    trough = int(np.argmin(dd))
    mdd = float(dd[trough])
    if mdd >= 0.0:
        return 0.0, 0, 0
    peak_value = peaks[trough]
    at_peak = np.flatnonzero(e[: trough + 1] >= peak_value)
    peak_i = int(at_peak[-1]) if len(at_peak) else 0
    recovered = np.flatnonzero(e[trough:] >= peak_value)
    end_i = trough + int(recovered[0]) if len(recovered) else len(e) - 1
    return mdd, peak_i, end_i


def trade_stats(pnls: Sequence[float], returns: Sequence[float]) -> dict[str, float | None]:
    """Win rate, profit factor, average trade return, expectancy and SQN of closed trades."""
    p = np.asarray(pnls, dtype=np.float64)
    n = len(p)
    if n == 0:
        return {"win_rate": None, "profit_factor": None, "avg_trade": None, "expectancy": None, "sqn": None}
    loss = -p[p < 0].sum()
    std = float(np.std(p, ddof=1)) if n > 1 else 0.0
    return {
        "win_rate": float((p > 0).sum() / n),
        "profit_factor": float(p[p > 0].sum() / loss) if loss > 0 else None,
        "avg_trade": float(np.mean(returns)),
        "expectancy": float(p.mean()),
        "sqn": float(math.sqrt(n) * p.mean() / std) if std > 0 else None,
    }


def equity_metrics(
    equity: np.ndarray,
    cash: float,
    timestamps: np.ndarray | None = None,
    *,
    risk_free_rate: float = 0.0,
    periods_per_year: float = 252.0,
) -> dict[str, float | int | None]:
    """The return, risk and drawdown metrics of one close-marked equity curve."""
    e = np.asarray(equity, dtype=np.float64)
    r = per_bar_returns(e, cash)
    n = len(r)
    growth = float(e[-1] / cash)
    mdd, peak_i, end_i = max_drawdown(e, cash)
    days = 0.0
    if mdd < 0 and timestamps is not None:
        ts = np.asarray(timestamps).astype("datetime64[ns]").view(np.int64)
        days = float((ts[end_i] - ts[peak_i]) / NS_PER_DAY)
    c = cagr(growth, n, periods_per_year)
    return {
        "total_return": growth - 1.0,
        "cagr": c,
        "annual_volatility": annual_volatility(r, periods_per_year),
        "sharpe": sharpe(r, risk_free_rate, periods_per_year),
        "sortino": sortino(r, risk_free_rate, periods_per_year),
        "calmar": (c / -mdd) if (c is not None and mdd < 0) else None,
        "max_drawdown": mdd,
        "max_drawdown_bars": end_i - peak_i if mdd < 0 else 0,
        "max_drawdown_days": days,
        "final_equity": float(e[-1]),
    }
