"""What ``backtest`` and ``sweep run`` print: ranking order, tables, statistics, JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

# ``--rank-by`` puts the lowest first for LOWER_IS_BETTER and the highest first for every other metric;
# the dashboard's ``order_by`` defaults come from the same table.
from zixly_contracts.ranking import LOWER_IS_BETTER

RANK_BY_HELP = (
    "metric to rank by (default: %(default)s); lowest first: "
    + ", ".join(LOWER_IS_BETTER)
    + "; highest first: every other metric (max_drawdown is negative, so the shallowest drawdown "
    "ranks first); sets where the metric is null rank last"
)
TABLE_COLUMNS = ("total_return", "cagr", "sharpe", "max_drawdown", "closed_trades")


def rank_direction(metric: str) -> str:
    return "lowest first" if metric in LOWER_IS_BETTER else "highest first"


def rank_key(metric: str) -> Callable[[Mapping[str, Any]], tuple[int, float]]:
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0

    def key(row: Mapping[str, Any]) -> tuple[int, float]:
        v = row["metrics"].get(metric)
        return (1, 0.0) if v is None else (0, sign * float(v))

    return key


def _json_default(o: object) -> object:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def dump(obj: object) -> None:
    print(json.dumps(obj, default=_json_default, allow_nan=False, indent=2))


def fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def params_text(params: Mapping[str, object]) -> str:
    return ",".join(f"{k}={v}" for k, v in params.items()) or "(no parameters)"


def _period(segment: Mapping[str, Any]) -> str:
    return f"{str(segment.get('from', '?'))[:10]}..{str(segment.get('to', '?'))[:10]}"


def statistics_lines(name: str, stats: Mapping[str, Any], rank_by: str) -> list[str]:
    """A few labelled lines for one dataset's statistics (as ``sweep_statistics`` returns them)."""
    lines = [f"statistics on {name} ({stats.get('trials')} parameter sets):"]
    retest_by = next(
        (b["selected_by"] for k in ("out_of_sample", "walk_forward") if isinstance(b := stats.get(k), dict)),
        rank_by,
    )
    if retest_by != rank_by:
        lines.append(f"  note: the re-tests cannot select by {rank_by}; they select by {retest_by}")

    def block(key: str, label: str, render: Callable[[Mapping[str, Any]], str]) -> None:
        b = stats.get(key)
        if not isinstance(b, dict):
            return
        head = f"  {label} (selects by {b.get('selected_by')}):"
        lines.append(f"{head} skipped ({b['skipped']})" if "skipped" in b else f"{head} {render(b)}")

    block(
        "deflated_sharpe",
        "Deflated Sharpe Ratio",
        lambda b: (
            f"{fmt(b.get('deflated_sharpe'))} for {params_text(b.get('params', {}))} "
            f"(Sharpe per bar {fmt(b.get('sharpe_per_bar'))}; "
            f"{fmt(b.get('expected_max_sharpe_per_bar'))} expected from the best of {fmt(b.get('trials'))} "
            "trials by luck)"
        ),
    )
    block(
        "pbo",
        "Probability of Backtest Overfitting (CSCV)",
        lambda b: (
            f"{fmt(b.get('pbo'))} over {fmt(b.get('combinations'))} combinations "
            f"(out-of-sample loss in {fmt(b.get('prob_oos_loss'))} of them)"
        ),
    )

    def oos(b: Mapping[str, Any]) -> str:
        metric = b.get("selected_by", "sharpe")
        ins, outs = b.get("in_sample", {}), b.get("out_of_sample", {})
        return (
            f"{params_text(b.get('params', {}))}: {metric} {fmt(ins.get(metric))} in-sample "
            f"({_period(ins)}), {fmt(outs.get(metric))} out-of-sample ({_period(outs)}); "
            f"out-of-sample rank percentile {fmt(b.get('oos_rank_percentile'))}"
        )

    block("out_of_sample", "out-of-sample re-test", oos)
    block(
        "walk_forward",
        "walk-forward",
        lambda b: (
            f"{len(b.get('folds', []))} folds, out-of-sample total_return "
            f"{fmt(b.get('oos_total_return'))}, cagr {fmt(b.get('oos_cagr'))}"
        ),
    )
    return lines


def results_table(rows: list[Mapping[str, Any]], rank_by: str) -> list[str]:
    """One line per result; the ``--rank-by`` metric is always one of the columns."""
    cols = list(TABLE_COLUMNS) if rank_by in TABLE_COLUMNS else [rank_by, *TABLE_COLUMNS]
    widths = [max(13, len(c)) for c in cols]
    head = " ".join(f"{c:>{w}}" for c, w in zip(cols, widths, strict=True))
    lines = [f"{'rank':>4}  {'dataset':<16} {'params':<40} {head}"]
    for row in rows:
        values = " ".join(f"{fmt(row['metrics'][c]):>{w}}" for c, w in zip(cols, widths, strict=True))
        lines.append(f"{row['rank']:>4}  {row['dataset']:<16} {params_text(row['params']):<40} {values}")
    return lines
