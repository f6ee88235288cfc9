"""The metrics of one backtest. Ratios that are undefined are null.

README.md ("The backtest engine") lists them; their definitions travel with every result."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Metrics(BaseModel):
    """Returns are fractions (6.192492 means +619.2492 %); durations in bars and days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    total_return: float
    cagr: float | None = None
    annual_volatility: float | None = None
    sharpe: float | None = None
    sortino: float | None = None
    calmar: float | None = None
    max_drawdown: float = 0.0
    max_drawdown_bars: int = 0
    max_drawdown_days: float = 0.0
    exposure: float = 0.0
    closed_trades: int = 0
    open_trades: int = 0
    win_rate: float | None = None
    profit_factor: float | None = None
    avg_trade: float | None = None
    expectancy: float | None = None
    sqn: float | None = None
    final_equity: float


METRIC_NAMES: tuple[str, ...] = tuple(Metrics.model_fields)
