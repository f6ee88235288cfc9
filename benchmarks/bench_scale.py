"""Scale benchmark: the same sweep with 1 and with 2 backtester replicas, and how tasks spread over 1–32.

    make bench-scale  (or: uv run python benchmarks/bench_scale.py [--replicas 1 2] [--repeat N] [--skip-run])

Prints JSON lines:

- one per replica count: ``{"replicas", "backtests", "seconds", "backtests_per_s", ...}``. ``seconds`` runs
  from the sweep's plan to its last result (the event times the backtesters wrote, so a slower
  projection downstream does not count); ``end_to_end_s`` from posting the request to the completed
  read model. The sweep runs ``--repeat`` times on each stack and the median is reported
  (``seconds_each`` lists them all; one sweep takes a few seconds, so one hiccup moves a single sample).
  ``cpu_ms_per_backtest`` is the CPU each role (backtesters, aggregator, kafka, postgres, this script)
  spent per backtest: with two replicas on two cores, whatever is not backtesting caps the speed-up.
  Task durations (p50/p99) are what ``max_poll_interval_ms`` must stay far above.
- one per simulated replica count 1–32: the planned tasks of the same sweep placed on the partitions
  of ``backtests.tasks`` as the planner does (``task_slot``: round-robin from a point set by the sweep
  id), the partitions handed out as aiokafka's round-robin assignor does, and the spread: max and mean
  tasks per replica.

The stack is the embedded one (Tansu, PostgreSQL from ``ZIXLY_DATABASE_URL`` or embedded, a folder),
started once per replica count; a warm-up sweep first, so that numba's compile is not measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from zixly.pipeline import query, submit, wait_for_sweep
from zixly.stack import RunningStack, StackConfig, running_stack
from zixly_backtester.domain.planning import plan_sweep, task_slot
from zixly_contracts import ids
from zixly_contracts.events import SweepRequested
from zixly_contracts.sweep_spec import SweepSpec
from zixly_contracts.topics import BACKTESTS_TASKS, all_topics

#: 27,792 backtests: an SMA crossover grid on four real daily series, in tasks of the service's default
#: size (256 parameter sets, ``ZIXLY_BACKTESTER_BATCH_SIZE``): 116 tasks.
SPEC: dict[str, Any] = {
    "name": "bench-scale",
    "datasets": [
        {"symbol": "MSFT_1d", "periods_per_year": 252},
        {"symbol": "SPX_1d", "periods_per_year": 252},
        {"symbol": "IXIC_1d", "periods_per_year": 252},
        {"symbol": "GOOG_1d", "periods_per_year": 252},
    ],
    "strategies": [
        {
            "name": "sma_cross",
            "grid": {
                "fast": {"start": 2, "stop": 100, "step": 1},
                "slow": {"start": 10, "stop": 400, "step": 5},
            },
            "constraints": [{"left": "fast", "op": "<", "right": "slow"}],
        }
    ],
    "execution": {"cash": 10000, "fill": "next_open", "fee_bps": 1.0},
}
WARM_UP: dict[str, Any] = {**SPEC, "datasets": SPEC["datasets"][:1], "batch_size": 256}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_seconds(processes: dict[str, list[psutil.Process]]) -> dict[str, float]:
    """User + system CPU seconds used so far by each role's processes (gone processes count 0)."""
    used: dict[str, float] = {}
    for role, members in processes.items():
        total = 0.0
        for process in members:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        used[role] = total
    return used


def roles(stack: RunningStack, pgdata: Path) -> dict[str, list[psutil.Process]]:
    """The processes of the stack by role; PostgreSQL's are its postmaster and its backends."""
    found: dict[str, list[psutil.Process]] = {
        "backtesters": [],
        "aggregator": [],
        "kafka": [],
        "postgres": [],
        "bench": [psutil.Process()],  # this script: submitting and polling the read model
    }
    for child in stack.processes.children:
        role = "backtesters" if child.name.startswith("backtester") else child.name
        if role in found:
            process = psutil.Process(child.process.pid)
            found[role] += [process, *process.children(recursive=True)]
    for process in psutil.process_iter(["cmdline"]):
        if str(pgdata) in " ".join(process.info["cmdline"] or []):
            found["postgres"] += [process, *process.children(recursive=True)]
    return found


def run_sweep(stack: RunningStack, processes: dict[str, list[psutil.Process]], tag: str) -> dict[str, Any]:
    """One measured sweep on a running stack: its seconds, task durations and CPU by role."""
    cpu_before = cpu_seconds(processes)
    started = time.monotonic()
    sweep_id = asyncio.run(submit(stack.bootstrap_servers, SPEC, f"{tag}-{time.time_ns()}"))
    state = wait_for_sweep(stack.database_url, sweep_id, timeout_s=1800)
    end_to_end = time.monotonic() - started
    cpu_after = cpu_seconds(processes)
    rows = asyncio.run(
        query(
            stack.database_url,
            "SELECT extract(epoch FROM max(t.recorded_at) - s.planned_at) AS seconds, "
            "array_agg(t.duration_ms) AS durations, count(DISTINCT t.worker) AS workers "
            "FROM tasks t JOIN sweeps s USING (sweep_id) WHERE sweep_id = :s GROUP BY s.planned_at",
            s=sweep_id,
        )
    )[0]
    return {
        "state": state,
        "seconds": float(rows["seconds"]),
        "end_to_end_s": end_to_end,
        "durations": [float(d) for d in rows["durations"]],
        "workers": rows["workers"],
        "cpu_s": {role: cpu_after[role] - cpu_before[role] for role in processes},
    }


def measure(replicas: int, home: Path, repeat: int) -> dict[str, Any]:
    """``repeat`` sweeps on one stack; the median sweep's rate, and CPU summed over all of them."""
    config = StackConfig.on_free_ports(
        home,
        backtester_replicas=replicas,
        database_url=os.environ.get("ZIXLY_DATABASE_URL") or None,
        with_http=False,
    )
    with running_stack(config) as stack:
        for i in range(replicas):  # every replica compiles its kernels once (then cached on disk)
            warm = asyncio.run(submit(stack.bootstrap_servers, WARM_UP, f"warm-{replicas}-{i}"))
            wait_for_sweep(stack.database_url, warm, timeout_s=600)
        processes = roles(stack, home / "pgdata")
        runs = [run_sweep(stack, processes, f"bench-{replicas}-{i}") for i in range(repeat)]
    backtests = runs[0]["state"].backtests_done
    seconds = statistics.median(r["seconds"] for r in runs)
    durations = [d for r in runs for d in r["durations"]]
    all_backtests = sum(r["state"].backtests_done for r in runs)
    return {
        "replicas": replicas,
        "backtests": backtests,
        "seconds": round(seconds, 3),
        "backtests_per_s": round(backtests / seconds, 1),
        "seconds_each": [round(r["seconds"], 3) for r in runs],
        "end_to_end_s": round(statistics.median(r["end_to_end_s"] for r in runs), 3),
        "tasks": runs[0]["state"].task_count,
        "workers_seen": min(r["workers"] for r in runs),
        "task_ms_p50": round(percentile(durations, 0.5), 1),
        "task_ms_p99": round(percentile(durations, 0.99), 1),
        "task_ms_max": round(max(durations), 1),
        # CPU used from each request to its completed read model, summed over the sweeps (a PostgreSQL
        # given by ZIXLY_DATABASE_URL is not counted), per sweep and per backtest: where the cores went.
        "cpu_s_per_sweep": {
            role: round(sum(r["cpu_s"][role] for r in runs) / repeat, 2) for role in processes
        },
        "cpu_ms_per_backtest": {
            role: round(1000 * sum(r["cpu_s"][role] for r in runs) / all_backtests, 3) for role in processes
        },
    }


def spread(max_replicas: int = 32) -> list[dict[str, Any]]:
    """Tasks per replica for 1…max_replicas members, as the planner and the assignor place them."""
    partitions = next(t.partitions for t in all_topics() if t.name == BACKTESTS_TASKS)
    sweep_id = ids.sweep_id("cli", "bench-spread")
    request = SweepRequested(
        sweep_id=sweep_id, source="cli", webhook_id="bench-spread", spec=SweepSpec.model_validate(SPEC)
    )
    plan = plan_sweep(request, batch_size=256, max_backtests=10_000_000)
    all_partitions = list(range(partitions))
    per_partition = Counter(task_slot(sweep_id, i) % partitions for i in range(len(plan.tasks)))
    lines = []
    for n in range(1, max_replicas + 1):
        # RoundRobin over sorted partitions and sorted members: partition p goes to member p % n.
        per_member = Counter(dict.fromkeys(range(n), 0))
        for p in all_partitions:
            per_member[p % n] += per_partition[p]
        loads = list(per_member.values())
        mean = statistics.mean(loads)
        lines.append(
            {
                "simulated_replicas": n,
                "partitions": partitions,
                "tasks": len(plan.tasks),
                "max_tasks_per_replica": max(loads),
                "mean_tasks_per_replica": round(mean, 2),
                "max_over_mean": round(max(loads) / mean, 3),
                "idle_replicas": sum(1 for v in loads if v == 0),
            }
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replicas", type=int, nargs="*", default=[1, 2])
    parser.add_argument(
        "--repeat", type=int, default=3, help="measured sweeps per replica count (the median is reported)"
    )
    parser.add_argument("--skip-run", action="store_true", help="only the partition-spread simulation")
    args = parser.parse_args(argv)
    results = []
    if not args.skip_run:
        for n in args.replicas:
            with tempfile.TemporaryDirectory(prefix="zixly-bench-") as home:
                result = measure(n, Path(home), args.repeat)
            results.append(result)
            print(json.dumps(result), flush=True)
        if len(results) >= 2:
            speedup = results[-1]["backtests_per_s"] / results[0]["backtests_per_s"]
            print(
                json.dumps(
                    {
                        "speedup": round(speedup, 3),
                        "of_replicas": [results[0]["replicas"], results[-1]["replicas"]],
                        "target": 1.7,
                    }
                ),
                flush=True,
            )
    for line in spread():
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
