"""``zixly demo``: one real sweep on real data, from a signed webhook to the leaderboard."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from zixly.stack import RunningStack
from zixly.webhooks import submit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo-sweep.json"


def wait_for_sweep(
    dashboard_url: str, sweep_id: str, *, timeout_s: float, echo: Any = print
) -> dict[str, Any]:
    """Poll the dashboard API until the sweep is completed or failed; print progress as it moves."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        response = httpx.get(f"{dashboard_url}/api/sweeps/{sweep_id}", timeout=5.0)
        if response.status_code == 200:
            sweep = response.json()
            line = (
                f"  {sweep['status']:<9} tasks {sweep['tasks_done'] + sweep['tasks_failed']}"
                f"/{sweep['task_count'] if sweep['task_count'] is not None else '?'}"
                f"  backtests {sweep['backtests_done']}/{sweep['backtest_count'] or '?'}"
            )
            if line != last:
                echo(line)
                last = line
            if sweep["status"] in {"completed", "failed"}:
                return dict(sweep)
        time.sleep(0.25)
    raise TimeoutError(f"sweep {sweep_id} did not finish within {timeout_s:.0f} s")


def leaderboard(dashboard_url: str, sweep_id: str, *, limit: int = 10, order_by: str = "sharpe") -> str:
    rows = httpx.get(
        f"{dashboard_url}/api/sweeps/{sweep_id}/results",
        params={"order_by": order_by, "limit": limit},
        timeout=5.0,
    ).json()

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value * 100:,.2f} %"

    def num(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    header = (
        f"{'#':>2}  {'dataset':<10} {'strategy':<14} {'params':<22} {'return':>12} {'CAGR':>9} "
        f"{'Sharpe':>7} {'max DD':>9} {'trades':>6}"
    )
    lines = [header, "-" * len(header)]
    for rank, row in enumerate(rows, 1):
        m = row["metrics"]
        params = ",".join(f"{k}={v}" for k, v in row["params"].items()) or "-"
        lines.append(
            f"{rank:>2}  {row['dataset']:<10} {row['strategy']:<14} {params:<22} "
            f"{pct(m['total_return']):>12} "
            f"{pct(m['cagr']):>9} {num(m['sharpe']):>7} {pct(m['max_drawdown']):>9} "
            f"{m['closed_trades'] + m['open_trades']:>6}"
        )
    return "\n".join(lines)


def run_demo(stack: RunningStack, *, example: Path = EXAMPLE, timeout_s: float = 120.0) -> int:
    print(f"posting {example.name} to {stack.ingest_url}/webhooks/{stack.webhook_source}")
    started = time.monotonic()
    response = submit(example, url=stack.ingest_url, source=stack.webhook_source, secret=stack.webhook_secret)
    if response.status_code != 202:
        print(f"ingest refused the webhook: {response.status_code} {response.text}")
        return 1
    sweep_id = response.json()["sweep_id"]
    print(f"accepted: sweep {sweep_id}")
    sweep = wait_for_sweep(stack.dashboard_url, sweep_id, timeout_s=timeout_s)
    print(
        f"sweep {sweep['status']} in {time.monotonic() - started:.1f} s "
        f"({sweep['backtests_done']} backtests, {sweep['tasks_failed']} failed tasks)\n"
    )
    if sweep["status"] != "completed":
        print(f"reason: {sweep.get('failure_reason')}")
        return 1
    print("leaderboard by Sharpe ratio")
    print(leaderboard(stack.dashboard_url, sweep_id))
    return 0 if sweep["tasks_failed"] == 0 else 1
