"""The handlers of ``backtest``, ``sweep run`` and ``strategies``; each returns the exit status."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from zixly_backtester.entrypoints.cli_data import execution_settings, load_data, max_sweep_bytes
from zixly_backtester.entrypoints.cli_options import (
    EXIT_USAGE,
    CliError,
    parse_constraint,
    parse_grid,
    parse_params,
    pydantic_message,
)
from zixly_backtester.entrypoints.cli_report import (
    dump,
    fmt,
    rank_direction,
    rank_key,
    results_table,
    statistics_lines,
)
from zixly_backtester.entrypoints.cli_sizing import sizing_warning


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


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
    except ValueError as exc:  # CliError, BarsError, the engine's and strategies' checks
        return _fail(str(exc))


def _backtest(args: argparse.Namespace) -> int:
    from zixly_backtester.domain.engine import run_batch
    from zixly_backtester.domain.strategies import validate_params

    params = validate_params(args.strategy, parse_params(args.param))
    bars = load_data(args.data, args.format)
    settings = execution_settings(args, bars)
    result = run_batch(bars, args.strategy, [params], settings, with_trades=args.trades)
    name = Path(args.data).name
    out: dict[str, object] = {
        "dataset": name,
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
    warning = sizing_warning(bars, name, args.strategy, [params], settings, result.metrics)
    if warning:
        print(warning, file=sys.stderr)
    if args.json:
        dump(out)
        return 0
    print(
        f"{out['strategy']} {params} on {out['dataset']} "
        f"({len(bars)} bars, {out['first_bar']} .. {out['last_bar']})"
    )
    for metric, value in result.metrics[0].items():
        print(f"  {metric:<20} {fmt(value)}")
    print(
        f"  fill={settings.fill} units={settings.units} direction={settings.direction} "
        f"P={settings.periods_per_year}"
    )
    return 0


def cmd_sweep_run(args: argparse.Namespace) -> int:
    try:
        return _sweep_run(args)
    except ValueError as exc:  # CliError, BarsError, the grid's, engine's and strategies' checks
        return _fail(str(exc))


def _param_sets(args: argparse.Namespace) -> list[dict[str, int | float]]:
    from zixly_backtester.domain.grid import expand_grid, grid_from_mapping

    grid = parse_grid(args.grid)
    constraints = [parse_constraint(c) for c in args.constraint]
    try:
        strategy_grid = grid_from_mapping(
            args.strategy, grid, constraints, (args.sample, args.seed) if args.sample else None
        )
    except ValueError as exc:  # what the checks above let through, without pydantic's wording
        raise CliError(f"--grid/--constraint: {pydantic_message(exc)}") from None
    param_sets = expand_grid(strategy_grid, max_count=args.max_combinations)
    if not param_sets:
        raise CliError("no parameter set satisfies the constraints")
    return param_sets


def _check_datasets(paths: list[str]) -> None:
    seen: set[str] = set()
    for path in paths:
        name = Path(path).name
        if name in seen:
            raise CliError(
                f"--data {name} is given more than once (results are keyed by file name; rename one)"
            )
        seen.add(name)


def _sweep_run(args: argparse.Namespace) -> int:
    from zixly_backtester.domain.engine import run_batch
    from zixly_backtester.domain.overfitting import sweep_statistics
    from zixly_contracts.metrics import METRIC_NAMES

    if args.rank_by not in METRIC_NAMES:
        raise CliError(f"--rank-by must be one of {', '.join(METRIC_NAMES)}")
    _check_datasets(args.data)
    limit = max_sweep_bytes()  # a bad ZIXLY_MAX_SWEEP_GIB is refused before any work
    param_sets = _param_sets(args)
    rows: list[dict[str, Any]] = []
    baselines: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    definitions: dict[str, object] = {}
    warnings: list[str] = []
    for path in args.data:
        bars = load_data(path, args.format)
        name = Path(path).name
        settings = execution_settings(args, bars)
        definitions[name] = settings.definitions()
        # every set's equity curve is held for the overfitting statistics: refuse what cannot fit
        needed = len(param_sets) * len(bars) * 8 * 3
        if needed > limit:
            raise CliError(
                f"{len(param_sets)} parameter sets × {len(bars)} bars need about {needed / 2**30:.1f} GiB; "
                f"the limit is {limit / 2**30:g} GiB (ZIXLY_MAX_SWEEP_GIB): narrow the grid or use --sample N"
            )
        result = run_batch(bars, args.strategy, param_sets, settings)
        baselines[name] = run_batch(bars, "buy_and_hold", [{}], settings).metrics[0]
        for params, metrics in zip(param_sets, result.metrics, strict=True):
            rows.append({"dataset": name, "strategy": args.strategy, "params": params, "metrics": metrics})
        warning = sizing_warning(bars, name, args.strategy, param_sets, settings, result.metrics)
        if warning:
            warnings.append(warning)
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
    rows.sort(key=rank_key(args.rank_by))
    for i, row in enumerate(rows, start=1):
        row["rank"] = i
    shown = rows if args.top == 0 else rows[: args.top]
    for warning in warnings:
        print(warning, file=sys.stderr)
    if args.json:
        dump(
            {
                "strategy": args.strategy,
                "param_sets": len(param_sets),
                "datasets": [Path(p).name for p in args.data],
                "rank_by": args.rank_by,
                "results": shown,
                "baseline": baselines,
                "statistics": stats,
                "definitions": definitions,
            }
        )
        return 0
    print(
        f"{args.strategy}: {len(param_sets)} parameter sets × {len(args.data)} dataset(s), "
        f"ranked by {args.rank_by} ({rank_direction(args.rank_by)})"
    )
    for line in results_table(shown, args.rank_by):
        print(line)
    for name, m in baselines.items():
        returns, sharpe = fmt(m["total_return"]), fmt(m["sharpe"])
        print(f"baseline buy_and_hold on {name}: total_return {returns} sharpe {sharpe}")
    for name, s in stats.items():
        for line in statistics_lines(name, s, args.rank_by):
            print(line)
    return 0
