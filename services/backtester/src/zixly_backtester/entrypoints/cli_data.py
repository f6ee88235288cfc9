"""``--data`` files and the execution settings of a run, checked before the engine sees them."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any

from zixly_backtester.domain.bars import Bars, BarsError, load_bars
from zixly_backtester.entrypoints.cli_options import CliError, number


def max_sweep_bytes() -> int:
    """Memory a local sweep may use for equity curves and returns (``ZIXLY_MAX_SWEEP_GIB``, default 2).

    Anything but a positive, finite number of GiB is a :class:`CliError` naming the variable."""
    text = os.environ.get("ZIXLY_MAX_SWEEP_GIB", "2")
    try:
        gib = float(text.strip())
    except ValueError:
        gib = math.nan
    limit = gib * 2**30
    if not (math.isfinite(limit) and gib > 0):
        raise CliError(f"ZIXLY_MAX_SWEEP_GIB must be a positive, finite number of GiB (got {text!r})")
    return int(limit)


def load_data(path_text: str, fmt: str | None) -> Bars:
    """The bars of one ``--data`` file; every problem is a :class:`CliError` naming the file."""
    try:
        return load_bars(Path(path_text), fmt)  # type: ignore[arg-type]
    except BarsError as exc:
        message = str(exc)
        if message.startswith("this is"):  # --format contradicts the content
            message += "; without --format the content decides"
        elif message.startswith("timestamps cannot be parsed"):
            message += " (write every timestamp in one format, e.g. 2020-01-31 or 2020-01-31 09:30:00)"
        raise CliError(f"--data {path_text}: {message}") from None


def observed_periods_per_year(bars: Bars) -> float:
    """Bars per year as the data shows them ((n − 1) bars over the time spanned), rounded to 0.1."""
    if len(bars) < 2:
        return 252.0
    span_ns = float(bars.timestamps[-1].astype("int64") - bars.timestamps[0].astype("int64"))
    years = span_ns / (365.25 * 86_400e9)
    return round((len(bars) - 1) / years, 1) if years > 0 else 252.0


def _periods_per_year(value: str, bars: Bars) -> float:
    if value != "auto":
        p = number(value, "--periods-per-year")
        if p <= 0:
            raise CliError("--periods-per-year must be positive")
        return float(p)
    return observed_periods_per_year(bars)


def execution_settings(args: argparse.Namespace, bars: Bars) -> Any:
    from zixly_backtester.domain.engine import ExecutionSettings

    try:
        return _settings(ExecutionSettings, args, bars)
    except CliError:
        raise
    except ValueError as exc:  # "fee_bps must be within …; cash must be …": name the options instead
        problems = [p.strip() for p in str(exc).split(";")]
        raise CliError("; ".join(_as_option(p) for p in problems)) from None


def _as_option(problem: str) -> str:
    field, _, rest = problem.partition(" ")
    return f"--{field.replace('_', '-')} {rest}" if field.isidentifier() and rest else problem


def _settings(cls: Any, args: argparse.Namespace, bars: Bars) -> Any:
    return cls(
        cash=args.cash,
        fill=args.fill,
        units=args.units,
        direction=args.direction,
        fee_bps=args.fee_bps,
        fixed_fee=args.fixed_fee,
        slippage_bps=args.slippage_bps,
        stop_loss_pct=args.stop_loss_pct,
        take_profit_pct=args.take_profit_pct,
        risk_free_rate=args.risk_free_rate,
        periods_per_year=_periods_per_year(args.periods_per_year, bars),
    )
