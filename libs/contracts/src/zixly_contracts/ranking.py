"""Which way each metric ranks: the one table the CLI's ``--rank-by`` and the dashboard both use."""

from __future__ import annotations

from zixly_contracts.metrics import METRIC_NAMES

#: Metrics where lower is better (less volatility, a shorter drawdown); every other metric ranks its
#: highest first (``max_drawdown`` is negative, so the shallowest drawdown ranks first).
LOWER_IS_BETTER: tuple[str, ...] = ("annual_volatility", "max_drawdown_bars", "max_drawdown_days")

#: Every metric, and whether its highest value ranks first.
HIGHER_IS_BETTER: dict[str, bool] = {name: name not in LOWER_IS_BETTER for name in METRIC_NAMES}
