"""``--data`` files and the execution settings of a run, checked before the engine sees them."""

from __future__ import annotations

import argparse
import os
import stat
import warnings
from pathlib import Path
from typing import Any

from zixly_backtester.domain.bars import Bars, BarsError, load_bars
from zixly_backtester.entrypoints.cli_options import CliError, number

PARQUET_MAGIC = b"PAR1"
PARQUET_SUFFIXES = (".parquet", ".pq")
_PARSER_ADVICE = ". You might want to try"


def max_sweep_bytes() -> int:
    """Memory a local sweep may use for equity curves and returns (``ZIXLY_MAX_SWEEP_GIB``, default 2)."""
    return int(float(os.environ.get("ZIXLY_MAX_SWEEP_GIB", "2")) * 2**30)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def data_format(path: Path, fmt: str | None) -> str:
    """The format to read ``path`` with: ``--format`` if given, else Parquet when the file starts with
    Parquet's magic bytes or is named ``.parquet``/``.pq`` (any case), else CSV."""
    where = f"--data {path}"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CliError(f"{where}: no such file") from None
    except OSError as exc:
        raise CliError(f"{where}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(mode):
        raise CliError(f"{where} is not a regular file ({_kind(mode)})")
    try:
        with path.open("rb") as f:
            magic = f.read(len(PARQUET_MAGIC))
    except OSError as exc:
        raise CliError(f"{where}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    is_parquet = magic == PARQUET_MAGIC
    if fmt == "csv" and is_parquet:
        raise CliError(f"{where} is a Parquet file (it starts with PAR1): use --format parquet")
    if fmt == "parquet" and not is_parquet:
        raise CliError(f"{where} is not a Parquet file (it does not start with PAR1): use --format csv")
    if fmt is not None:
        return fmt
    return "parquet" if is_parquet or path.suffix.lower() in PARQUET_SUFFIXES else "csv"


def _one_line(exc: BarsError) -> str:
    """The loader's message as one clean line: no parser advice cut off after its first line."""
    text = str(exc).split("\n")[0]
    if _PARSER_ADVICE in text:
        text = text.split(_PARSER_ADVICE)[0].rstrip(":;,. ")
    if isinstance(exc.__context__, UnicodeDecodeError):
        return "not UTF-8 text, so not a CSV file (for a Parquet file use --format parquet)"
    if text.startswith("timestamps cannot be parsed"):
        text += " (write every timestamp in one format, e.g. 2020-01-31 or 2020-01-31 09:30:00)"
    return text


def load_data(path_text: str, fmt: str | None) -> Bars:
    """The bars of one ``--data`` file; every problem is a :class:`CliError` naming the file."""
    path = Path(path_text)
    chosen = data_format(path, fmt)
    try:
        with warnings.catch_warnings():
            # pandas warns when it parses mixed timestamp formats one by one; the result or the
            # error below is what the user needs, not the warning
            warnings.simplefilter("ignore")
            return load_bars(path, chosen)  # type: ignore[arg-type]
    except BarsError as exc:
        raise CliError(f"--data {path_text}: {_one_line(exc)}") from None


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
