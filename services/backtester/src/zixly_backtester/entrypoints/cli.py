"""The service-free command line: ``backtest`` one parameter set, ``sweep run`` a grid locally.

    zixly backtest --data GOOG_1d.csv --strategy sma_cross --param fast=10 --param slow=20 \\
        --fill close --units whole --json
    zixly sweep run --data GOOG_1d.csv --strategy sma_cross --grid fast=5:50:5 --grid slow=20:210:10 \\
        --constraint 'fast<slow' --json
    zixly strategies

Bad input (unreadable or invalid data, unknown strategy, bad parameters, an option given twice) exits
with status 2 and a one-line message on stderr naming the option. The root ``zixly`` command forwards
``backtest``, ``sweep run`` and ``strategies`` to :func:`main` with ``prog="zixly"``; ``zixly-backtest``
runs this module directly. The pieces: options and their parsing in ``cli_options``, data files and
settings in ``cli_data``, the handlers in ``cli_commands``, what they print in ``cli_report``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from zixly_backtester.entrypoints.cli_commands import cmd_backtest, cmd_list_strategies, cmd_sweep_run
from zixly_backtester.entrypoints.cli_data import max_sweep_bytes, observed_periods_per_year
from zixly_backtester.entrypoints.cli_options import (
    EXIT_READER_GONE,
    EXIT_USAGE,
    CliError,
    OneLineParser,
    StoreOnce,
    at_least,
    bounded,
    parse_constraint,
    parse_grid,
    parse_params,
)
from zixly_backtester.entrypoints.cli_report import RANK_BY_HELP

__all__ = [
    "EXIT_READER_GONE",
    "EXIT_USAGE",
    "CliError",
    "add_subcommands",
    "build_parser",
    "main",
    "max_sweep_bytes",
    "observed_periods_per_year",
    "parse_constraint",
    "parse_grid",
    "parse_params",
    "run_handler",
]


def _add_execution_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution (definitions in the README's engine section)")
    once: dict[str, Any] = {"action": StoreOnce}
    g.add_argument("--cash", type=float, default=10_000.0, help="initial cash (default: %(default)g)", **once)
    g.add_argument(
        "--fill",
        choices=["next_open", "close"],
        default="next_open",
        help="fill at the next bar's open or at the signal bar's close (default: %(default)s)",
        **once,
    )
    g.add_argument(
        "--units",
        choices=["fractional", "whole"],
        default="fractional",
        help="position size in fractional or whole units (default: %(default)s)",
        **once,
    )
    g.add_argument(
        "--direction",
        choices=["long_only", "long_short"],
        default="long_only",
        help="long_only goes flat on a sell signal, long_short goes short (default: %(default)s)",
        **once,
    )
    g.add_argument(
        "--fee-bps",
        type=float,
        default=0.0,
        help="relative fee in bps of notional, negative = rebate (default: %(default)g)",
        **once,
    )
    g.add_argument(
        "--fixed-fee", type=float, default=0.0, help="fixed fee per order (default: %(default)g)", **once
    )
    g.add_argument(
        "--slippage-bps",
        type=float,
        default=0.0,
        help="slippage in bps, against the trader (default: %(default)g)",
        **once,
    )
    g.add_argument(
        "--stop-loss-pct",
        type=float,
        default=None,
        help="stop-loss in percent of the entry price (default: none)",
        **once,
    )
    g.add_argument(
        "--take-profit-pct",
        type=float,
        default=None,
        help="take-profit in percent of the entry price (default: none)",
        **once,
    )
    g.add_argument(
        "--risk-free-rate",
        type=float,
        default=0.0,
        help="risk-free rate per year, 0.02 = 2 %% (default: %(default)g)",
        **once,
    )
    g.add_argument(
        "--periods-per-year",
        default="auto",
        help="bars per year P for annualizing (252 equities daily, 365 crypto daily, 8760 crypto hourly…); "
        "default: auto, the bars per year the data itself shows",
        **once,
    )


def _add_data_options(p: argparse.ArgumentParser, many: bool) -> None:
    p.add_argument(
        "--data",
        required=True,
        action="append" if many else StoreOnce,
        metavar="FILE",
        help="CSV or Parquet bars (timestamp,Open,High,Low,Close,Volume)"
        + ("; repeat for several" if many else "; one file (`zixly sweep run` takes several)"),
        **({} if many else {"hint": "; `zixly backtest` runs one file, `zixly sweep run` several"}),
    )
    p.add_argument(
        "--format",
        choices=["csv", "parquet"],
        default=None,
        action=StoreOnce,
        help="default: Parquet if the file starts with PAR1 or is named .parquet/.pq (any case), else CSV",
    )
    p.add_argument(
        "--strategy", required=True, action=StoreOnce, help="strategy name (see `zixly strategies`)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_backtest(subparsers: Any) -> None:
    bt = subparsers.add_parser("backtest", help="backtest one parameter set on one dataset")
    _add_data_options(bt, many=False)
    bt.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="K=V",
        help="strategy parameter, repeatable; omitted parameters take their default",
    )
    bt.add_argument("--trades", action="store_true", help="include the trade list in the output")
    _add_execution_options(bt)
    bt.set_defaults(handler=cmd_backtest)


def _add_sweep_run(subparsers: Any) -> None:
    sweep = subparsers.add_parser("sweep", help="parameter sweeps")
    sweep_sub = sweep.add_subparsers(dest="sweep_command", metavar="{run}")
    sweep_sub.required = True
    run = sweep_sub.add_parser("run", help="run a sweep locally and print the ranked results")
    _add_data_options(run, many=True)
    once: dict[str, Any] = {"action": StoreOnce}
    run.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="K=SPEC",
        help="one per parameter: k=start:stop:step (stop inclusive), k=start:stop (step 1), "
        "k=v1,v2,… or k=v; omitted parameters take their default",
    )
    run.add_argument(
        "--constraint",
        action="append",
        default=[],
        metavar="EXPR",
        help="keep the sets where name<op>name or name<op>number holds, e.g. 'fast<slow' "
        "(op: < <= > >= == !=); repeatable, all must hold",
    )
    run.add_argument(
        "--sample",
        type=at_least(1),
        default=None,
        metavar="N",
        help="draw N parameter sets at random (default: the whole grid)",
        **once,
    )
    run.add_argument(
        "--seed", type=at_least(0), default=0, help="seed of --sample (default: %(default)s)", **once
    )
    run.add_argument("--rank-by", default="sharpe", metavar="METRIC", help=RANK_BY_HELP, **once)
    run.add_argument(
        "--top",
        type=bounded(int, 0, 10**9),
        default=20,
        help="results to print, 0 = all (default: %(default)s)",
        **once,
    )
    run.add_argument(
        "--max-combinations",
        type=at_least(1),
        default=1_000_000,
        help="refuse grids with more parameter sets than this (default: %(default)s)",
        **once,
    )
    run.add_argument(
        "--oos-fraction",
        type=bounded(float, 0.05, 0.95),
        default=0.3,
        help="share of the bars, at the end, held out for the out-of-sample re-test (default: %(default)s)",
        **once,
    )
    run.add_argument(
        "--walk-forward",
        type=bounded(int, 0, 100),
        default=5,
        metavar="K",
        help="walk-forward folds, 0 = off (default: %(default)s)",
        **once,
    )
    run.add_argument(
        "--pbo-splits",
        type=bounded(int, 2, 16, even=True),
        default=10,
        metavar="S",
        help="CSCV partitions for PBO, even, 2..16; S=16 already means 12,870 combinations "
        "(default: %(default)s)",
        **once,
    )
    _add_execution_options(run)
    run.set_defaults(handler=cmd_sweep_run)


def add_subcommands(subparsers: Any) -> None:
    """Add ``backtest``, ``sweep run`` and ``strategies`` to a parent's subparsers; each sets ``handler``."""
    _add_backtest(subparsers)
    _add_sweep_run(subparsers)
    strategies = subparsers.add_parser(
        "strategies", help="list the strategies with their parameters, valid ranges and defaults"
    )
    strategies.set_defaults(handler=cmd_list_strategies)


def build_parser(prog: str = "zixly-backtest") -> argparse.ArgumentParser:
    parser = OneLineParser(prog=prog, description="Backtests and sweeps on local files, no services.")
    parser.add_argument("--list-strategies", action="store_true", help="print the strategy library and exit")
    sub = parser.add_subparsers(dest="command", metavar="{backtest,sweep,strategies}")
    add_subcommands(sub)
    return parser


def main(argv: list[str] | None = None, prog: str = "zixly-backtest") -> int:
    """Run one command; ``prog`` is the command name the usage lines show (``zixly`` when forwarded)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        if args.list_strategies:
            return cmd_list_strategies(args)
        if getattr(args, "handler", None) is None:
            parser.print_usage(sys.stderr)
            return EXIT_USAGE
        return int(args.handler(args))
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_READER_GONE


def run_handler(args: argparse.Namespace) -> int:
    """Call the handler chosen by :func:`add_subcommands` (for a parent CLI)."""
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
