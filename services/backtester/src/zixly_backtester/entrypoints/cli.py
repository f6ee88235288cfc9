"""The service-free command line: ``backtest`` one parameter set, ``sweep run`` a grid locally.

    zixly backtest --data GOOG_1d.csv --strategy sma_cross --param fast=10 --param slow=20 \\
        --fill close --units whole --json
    zixly sweep run --data GOOG_1d.csv --strategy sma_cross --grid fast=5:50:5 --grid slow=20:210:10 \\
        --constraint 'fast<slow' --json

Bad input (unreadable or invalid data, unknown strategy, bad parameters) exits with status 2 and a
one-line message on stderr. The root ``zixly`` command delegates to :func:`add_subcommands` /
:func:`main`; ``zixly-backtest`` runs this module directly.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zixly_backtester.domain.bars import Bars, BarsError, load_bars

EXIT_USAGE = 2


def max_sweep_bytes() -> int:
    """Memory a local sweep may use for equity curves and returns (``ZIXLY_MAX_SWEEP_GIB``, default 2)."""
    return int(float(os.environ.get("ZIXLY_MAX_SWEEP_GIB", "2")) * 2**30)


_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(<=|>=|==|!=|<|>)\s*([A-Za-z0-9_.+\-]+)\s*$")
_LOWER_IS_BETTER = {"max_drawdown_bars", "max_drawdown_days"}


class CliError(ValueError):
    """Bad input on the command line: reported on stderr with exit status 2."""


# ---------------------------------------------------------------------------------------------------
# parsing helpers


def _number(text: str, what: str) -> int | float:
    t = text.strip()
    try:
        return int(t)
    except ValueError:
        pass
    try:
        v = float(t)
    except ValueError:
        raise CliError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise CliError(f"{what}: {text!r} is not a finite number")
    return v


def _key_value(text: str, what: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise CliError(f"{what} must look like name=value, got {text!r}")
    return key.strip(), value.strip()


def parse_params(items: Sequence[str]) -> dict[str, int | float]:
    out: dict[str, int | float] = {}
    for item in items:
        k, v = _key_value(item, "--param")
        if k in out:
            raise CliError(f"--param {k} is given more than once")
        out[k] = _number(v, f"--param {k}")
    return out


def _bounded(kind: type, low: float, high: float, *, even: bool = False) -> object:
    """An argparse type: a number of ``kind`` within [low, high] (and even, if asked)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a{'n integer' if kind is int else ' number'}"
            ) from None
        if not low <= value <= high or (even and value % 2):
            raise argparse.ArgumentTypeError(
                f"{text} is outside [{low:g}, {high:g}]" + (" or odd" if even else "")
            )
        return value

    return parse


def parse_grid(items: Sequence[str]) -> dict[str, object]:
    """``k=start:stop:step`` (inclusive range), ``k=v1,v2,…`` (list) or ``k=v`` (one value)."""
    from zixly_contracts.sweep_spec import Range

    out: dict[str, object] = {}
    for item in items:
        k, v = _key_value(item, "--grid")
        if ":" in v:
            parts = v.split(":")
            if len(parts) not in (2, 3):
                raise CliError(f"--grid {k}: a range is start:stop[:step], got {v!r}")
            nums = [_number(p, f"--grid {k}") for p in parts]
            try:
                out[k] = Range(start=nums[0], stop=nums[1], step=nums[2] if len(nums) == 3 else 1)
            except ValueError as exc:
                raise CliError(f"--grid {k}: {_pydantic_message(exc)}") from None
        elif "," in v:
            out[k] = [_number(p, f"--grid {k}") for p in v.split(",") if p.strip()]
        else:
            out[k] = _number(v, f"--grid {k}")
    return out


def parse_constraint(text: str) -> tuple[str, str, str | int | float]:
    """``fast<slow`` or ``period>=5`` as data: (left, op, right), right a name or a number."""
    m = _CONSTRAINT.match(text)
    if not m:
        raise CliError(f"--constraint must look like 'fast<slow' (ops < <= > >= == !=), got {text!r}")
    left, op, right = m.groups()
    try:
        return left, op, _number(right, "--constraint")
    except CliError:
        return left, op, right


def _pydantic_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(str(e.get("msg", e)) for e in errors())
    return str(exc)


# ---------------------------------------------------------------------------------------------------
# shared options


def _add_execution_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution (definitions in the README's engine section)")
    g.add_argument("--cash", type=float, default=10_000.0, help="initial cash (default 10000)")
    g.add_argument(
        "--fill", choices=["next_open", "close"], default="next_open", help="fill rule (default next_open)"
    )
    g.add_argument("--units", choices=["fractional", "whole"], default="fractional", help="position units")
    g.add_argument("--direction", choices=["long_only", "long_short"], default="long_only")
    g.add_argument(
        "--fee-bps", type=float, default=0.0, help="relative fee in bps of notional (negative = rebate)"
    )
    g.add_argument("--fixed-fee", type=float, default=0.0, help="fixed fee per order")
    g.add_argument("--slippage-bps", type=float, default=0.0, help="slippage in bps, against the trader")
    g.add_argument(
        "--stop-loss-pct", type=float, default=None, help="stop-loss in percent of the entry price"
    )
    g.add_argument(
        "--take-profit-pct", type=float, default=None, help="take-profit in percent of the entry price"
    )
    g.add_argument("--risk-free-rate", type=float, default=0.0, help="risk-free rate per year (0.02 = 2 %%)")
    g.add_argument(
        "--periods-per-year",
        default="auto",
        help="bars per year P for annualizing (252 equities daily, 365 crypto daily, 8760 crypto hourly…); "
        "default 'auto' = the bars per year the data itself shows",
    )


def _add_data_options(p: argparse.ArgumentParser, many: bool) -> None:
    p.add_argument(
        "--data",
        required=True,
        action="append" if many else "store",
        metavar="FILE",
        help="CSV or Parquet bars (timestamp,Open,High,Low,Close,Volume)"
        + ("; repeat for several" if many else ""),
    )
    p.add_argument(
        "--format", choices=["csv", "parquet"], default=None, help="default: from the file extension"
    )
    p.add_argument("--strategy", required=True, help="strategy name (see `zixly strategies`)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_subcommands(subparsers: Any) -> None:
    """Add ``backtest`` and ``sweep run`` to a parent parser's subparsers; each sets ``handler``."""
    bt = subparsers.add_parser("backtest", help="backtest one parameter set on one dataset")
    _add_data_options(bt, many=False)
    bt.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="strategy parameter, repeatable"
    )
    bt.add_argument("--trades", action="store_true", help="include the trade list in the output")
    _add_execution_options(bt)
    bt.set_defaults(handler=cmd_backtest)

    sweep = subparsers.add_parser("sweep", help="parameter sweeps")
    sweep_sub = sweep.add_subparsers(dest="sweep_command", metavar="{run}")
    sweep_sub.required = True
    run = sweep_sub.add_parser("run", help="run a sweep locally and print the ranked results")
    _add_data_options(run, many=True)
    run.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="K=SPEC",
        help="k=start:stop:step (inclusive), k=v1,v2,… or k=v; omitted parameters take their default",
    )
    run.add_argument("--constraint", action="append", default=[], metavar="EXPR", help="e.g. 'fast<slow'")
    run.add_argument("--sample", type=int, default=None, metavar="N", help="draw N parameter sets at random")
    run.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    run.add_argument("--rank-by", default="sharpe", help="metric to rank by (default sharpe; nulls last)")
    run.add_argument(
        "--top", type=_bounded(int, 0, 10**9), default=20, help="results to print (default 20; 0 = all)"
    )
    run.add_argument("--max-combinations", type=int, default=1_000_000, help="grid size guard")
    run.add_argument(
        "--oos-fraction",
        type=_bounded(float, 0.05, 0.95),
        default=0.3,
        help="out-of-sample share for the re-test",
    )
    run.add_argument(
        "--walk-forward",
        type=_bounded(int, 0, 100),
        default=5,
        metavar="K",
        help="walk-forward folds (0 = off)",
    )
    run.add_argument(
        "--pbo-splits",
        type=_bounded(int, 2, 16, even=True),
        default=10,
        metavar="S",
        help="CSCV partitions for PBO (even, 2..16: S=16 already means 12,870 combinations)",
    )
    _add_execution_options(run)
    run.set_defaults(handler=cmd_sweep_run)


def build_parser(prog: str = "zixly-backtest") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Backtests and sweeps on local files, no services."
    )
    parser.add_argument("--list-strategies", action="store_true", help="print the strategy library and exit")
    sub = parser.add_subparsers(dest="command", metavar="{backtest,sweep}")
    add_subcommands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.list_strategies:
            return cmd_list_strategies(args)
        if getattr(args, "handler", None) is None:
            parser.print_usage(sys.stderr)
            return EXIT_USAGE
        return int(args.handler(args))
    except BrokenPipeError:  # e.g. piped into `head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def run_handler(args: argparse.Namespace) -> int:
    """Call the handler chosen by :func:`add_subcommands` (for a parent CLI)."""
    return int(args.handler(args))


# ---------------------------------------------------------------------------------------------------
# commands


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _load(path: str, fmt: str | None) -> Bars:
    return load_bars(Path(path), fmt)  # type: ignore[arg-type]


def _periods_per_year(value: str, bars: Bars) -> float:
    if value != "auto":
        p = _number(value, "--periods-per-year")
        if p <= 0:
            raise CliError("--periods-per-year must be positive")
        return float(p)
    return observed_periods_per_year(bars)


def observed_periods_per_year(bars: Bars) -> float:
    """Bars per year as the data shows them ((n − 1) bars over the time spanned), rounded to 0.1."""
    if len(bars) < 2:
        return 252.0
    span_ns = float(bars.timestamps[-1].astype("int64") - bars.timestamps[0].astype("int64"))
    years = span_ns / (365.25 * 86_400e9)
    return round((len(bars) - 1) / years, 1) if years > 0 else 252.0


def _settings(args: argparse.Namespace, bars: Bars) -> Any:
    from zixly_backtester.domain.engine import ExecutionSettings

    return ExecutionSettings(
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


def _json_default(o: object) -> object:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _dump(obj: object) -> None:
    print(json.dumps(obj, default=_json_default, allow_nan=False, indent=2))


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def cmd_list_strategies(args: argparse.Namespace) -> int:
    from zixly_backtester.domain.strategies import STRATEGIES

    for sdef in STRATEGIES.values():
        print(f"{sdef.name}: {sdef.description}\n  {sdef.rules}")
        for p in sdef.params:
            print(f"  --param {p.name}=<{p.kind} {p.min:g}..{p.max:g}, default {p.default}>  {p.description}")
        for req in sdef.requires:
            print(f"  requires {' '.join(req)}")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    try:
        return _backtest(args)
    except (CliError, BarsError, ValueError) as exc:
        return _fail(str(exc))


def _backtest(args: argparse.Namespace) -> int:
    from zixly_backtester.domain.engine import run_batch
    from zixly_backtester.domain.strategies import validate_params

    params = validate_params(args.strategy, parse_params(args.param))
    bars = _load(args.data, args.format)
    settings = _settings(args, bars)
    result = run_batch(bars, args.strategy, [params], settings, with_trades=args.trades)
    out: dict[str, object] = {
        "dataset": Path(args.data).name,
        "bars": len(bars),
        "first_bar": str(bars.timestamps[0]),
        "last_bar": str(bars.timestamps[-1]),
        "strategy": args.strategy,
        "params": params,
        "metrics": result.metrics[0],
        "definitions": settings.definitions(),
    }
    if args.trades:
        df = result.trades_frame()
        df = df.drop(columns=["param_set"])  # type: ignore[attr-defined]
        df.insert(2, "entry_time", [str(bars.timestamps[i]) for i in df["entry_bar"]])  # type: ignore[index]
        df.insert(4, "exit_time", [str(bars.timestamps[i]) for i in df["exit_bar"]])  # type: ignore[index]
        out["trades"] = df.to_dict(orient="records")  # type: ignore[attr-defined]
    if args.json:
        _dump(out)
        return 0
    print(
        f"{out['strategy']} {params} on {out['dataset']} "
        f"({len(bars)} bars, {out['first_bar']} .. {out['last_bar']})"
    )
    for name, value in result.metrics[0].items():
        print(f"  {name:<20} {_fmt(value)}")
    print(
        f"  fill={settings.fill} units={settings.units} direction={settings.direction} "
        f"P={settings.periods_per_year}"
    )
    return 0


def cmd_sweep_run(args: argparse.Namespace) -> int:
    try:
        return _sweep_run(args)
    except (CliError, BarsError, ValueError) as exc:
        return _fail(str(exc))


def _rank_key(metric: str) -> Any:
    sign = 1.0 if metric in _LOWER_IS_BETTER else -1.0

    def key(row: dict[str, Any]) -> tuple[int, float]:
        v = row["metrics"].get(metric)
        return (1, 0.0) if v is None else (0, sign * float(v))

    return key


def _sweep_run(args: argparse.Namespace) -> int:
    from zixly_backtester.domain.engine import run_batch
    from zixly_backtester.domain.grid import expand_grid, grid_from_mapping
    from zixly_backtester.domain.overfitting import sweep_statistics
    from zixly_contracts.metrics import METRIC_NAMES

    if args.rank_by not in METRIC_NAMES:
        raise CliError(f"--rank-by must be one of {', '.join(METRIC_NAMES)}")
    if args.sample is not None and args.sample <= 0:
        raise CliError("--sample must be positive")
    try:
        grid = grid_from_mapping(
            args.strategy,
            parse_grid(args.grid),
            [parse_constraint(c) for c in args.constraint],
            (args.sample, args.seed) if args.sample else None,
        )
    except ValueError as exc:
        raise CliError(_pydantic_message(exc)) from None
    param_sets = expand_grid(grid, max_count=args.max_combinations)
    if not param_sets:
        raise CliError("no parameter set satisfies the constraints")
    rows: list[dict[str, Any]] = []
    baselines: dict[str, object] = {}
    stats: dict[str, object] = {}
    definitions: dict[str, object] = {}
    for path in args.data:
        bars = _load(path, args.format)
        name = Path(path).name
        settings = _settings(args, bars)
        definitions[name] = settings.definitions()
        # every set's equity curve is held for the overfitting statistics: refuse what cannot fit
        needed, limit = len(param_sets) * len(bars) * 8 * 3, max_sweep_bytes()
        if needed > limit:
            raise CliError(
                f"{len(param_sets)} parameter sets × {len(bars)} bars need about {needed / 2**30:.1f} GiB; "
                f"the limit is {limit / 2**30:g} GiB (ZIXLY_MAX_SWEEP_GIB): narrow the grid or use --sample N"
            )
        result = run_batch(bars, args.strategy, param_sets, settings)
        baselines[name] = run_batch(bars, "buy_and_hold", [{}], settings).metrics[0]
        for params, metrics in zip(param_sets, result.metrics, strict=True):
            rows.append({"dataset": name, "strategy": args.strategy, "params": params, "metrics": metrics})
        stats[name] = sweep_statistics(
            bars,
            args.strategy,
            param_sets,
            settings,
            result,
            rank_by=args.rank_by,
            oos_fraction=args.oos_fraction,
            walk_forward_folds=args.walk_forward,
            pbo_splits=args.pbo_splits,
        )
    rows.sort(key=_rank_key(args.rank_by))
    for i, row in enumerate(rows, start=1):
        row["rank"] = i
    shown = rows if args.top == 0 else rows[: args.top]
    out = {
        "strategy": args.strategy,
        "param_sets": len(param_sets),
        "datasets": [Path(p).name for p in args.data],
        "rank_by": args.rank_by,
        "results": shown,
        "baseline": baselines,
        "statistics": stats,
        "definitions": definitions,
    }
    if args.json:
        _dump(out)
        return 0
    print(
        f"{args.strategy}: {len(param_sets)} parameter sets × {len(args.data)} dataset(s), "
        f"ranked by {args.rank_by}"
    )
    cols = ["total_return", "cagr", "sharpe", "max_drawdown", "closed_trades"]
    print(f"{'rank':>4}  {'dataset':<16} {'params':<40} " + " ".join(f"{c:>13}" for c in cols))
    for row in shown:
        p = ",".join(f"{k}={v}" for k, v in row["params"].items())
        values = " ".join(f"{_fmt(row['metrics'][c]):>13}" for c in cols)
        print(f"{row['rank']:>4}  {row['dataset']:<16} {p:<40} {values}")
    for name, b in baselines.items():
        m = b  # type: ignore[assignment]
        print(
            f"baseline buy_and_hold on {name}: "
            f"total_return {_fmt(m['total_return'])} sharpe {_fmt(m['sharpe'])}"
        )  # type: ignore[index]
    for name, s in stats.items():
        print(f"statistics on {name}: {json.dumps(s, default=_json_default)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
