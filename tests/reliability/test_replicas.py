"""Three backtester replicas on one sweep of 2,100 backtests on real data; one is killed at a random moment.

Each run posts a new sweep, waits until a random number of its tasks is done (a random moment of the
sweep, measured in progress rather than seconds), ``kill -9``s a random replica and starts it again.
Every run must complete with every expected result exactly once in PostgreSQL, equal (bit for bit) to
the undisturbed run's, and announce its completion exactly once. ``ZIXLY_RELIABILITY_KILL_RUNS`` sets
the number of runs (20 for the full check; 3 by default, as CI runs), ``ZIXLY_RELIABILITY_SEED`` the moments.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from zixly.pipeline import (
    SCALE_SPEC,
    query,
    results_by_params,
    submit,
    sweep_state,
    topic_events,
    wait_for_sweep,
)
from zixly.stack import StackConfig, running_stack
from zixly_contracts.events import SweepCompleted
from zixly_contracts.topics import SWEEPS_LIFECYCLE

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(1800)]

REPLICAS = 3


def exactly_once(database_url: str, sweep_id: str) -> dict[str, int]:
    return asyncio.run(
        query(
            database_url,
            "SELECT (SELECT count(*) FROM results WHERE sweep_id = :s) AS results, "
            "(SELECT count(DISTINCT (dataset, strategy, params_key)) FROM results WHERE sweep_id = :s) "
            "AS distinct, "
            "(SELECT count(*) FROM tasks WHERE sweep_id = :s) AS tasks",
            s=sweep_id,
        )
    )[0]


def wait_for_progress(database_url: str, sweep_id: str, tasks: int) -> int:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = asyncio.run(sweep_state(database_url, sweep_id))
        if state is not None and state.tasks_done >= tasks:
            return state.tasks_done
        time.sleep(0.02)
    raise TimeoutError(f"sweep {sweep_id} never reached {tasks} tasks")


def test_kill_minus_nine_one_of_three_replicas_at_random_moments(
    tmp_path: Path, database_url: str, fast_failover: dict[str, str], kill_runs: int
):
    seed = int(os.environ.get("ZIXLY_RELIABILITY_SEED", str(time.time_ns() % 1_000_000)))
    rng = random.Random(seed)
    print(f"seed {seed}, {kill_runs} runs")
    config = StackConfig.on_free_ports(
        tmp_path,
        backtester_replicas=REPLICAS,
        database_url=database_url,
        service_env=fast_failover,
        with_http=False,
    )
    with running_stack(config) as stack:
        started = time.monotonic()
        baseline_id = asyncio.run(submit(stack.bootstrap_servers, SCALE_SPEC, "undisturbed"))
        baseline = wait_for_sweep(database_url, baseline_id, timeout_s=300)
        undisturbed_s = time.monotonic() - started
        assert baseline.status == "completed"
        assert baseline.backtest_count == baseline.backtests_done == 2100
        expected = asyncio.run(results_by_params(database_url, baseline_id))
        assert len(expected) == 2100
        print(f"undisturbed run: {undisturbed_s:.1f} s, {baseline.task_count} tasks")

        sweeps = [baseline_id]
        for run in range(kill_runs):
            target = rng.randint(1, int(0.8 * baseline.task_count))
            victim = stack.processes.get(f"backtester-{rng.randint(1, REPLICAS)}")
            submitted = time.monotonic()
            sweep_id = asyncio.run(submit(stack.bootstrap_servers, SCALE_SPEC, f"kill-{seed}-{run}"))
            sweeps.append(sweep_id)
            progress = wait_for_progress(database_url, sweep_id, target)
            victim.kill(signal.SIGKILL)
            killed_after = time.monotonic() - submitted
            assert progress < baseline.task_count, "the kill came after the sweep"
            stack.processes.wait_healthy(stack.processes.restart(victim))
            state = wait_for_sweep(database_url, sweep_id, timeout_s=300)
            print(
                f"run {run}: kill -9 {victim.name} {killed_after:.2f} s in, "
                f"at {progress}/{baseline.task_count} tasks; "
                f"{state.status} in {time.monotonic() - submitted:.1f} s"
            )
            assert state.status == "completed", run
            assert state.tasks_failed == 0, run
            assert state.backtests_done == state.backtest_count == 2100, run
            assert exactly_once(database_url, sweep_id) == {
                "results": 2100,
                "distinct": 2100,
                "tasks": baseline.task_count,
            }, run
            assert asyncio.run(results_by_params(database_url, sweep_id)) == expected, run

        completions = Counter(
            e.subject
            for e in asyncio.run(topic_events(stack.bootstrap_servers, SWEEPS_LIFECYCLE))
            if isinstance(e.data, SweepCompleted)
        )
        assert {s: completions[s] for s in sweeps} == dict.fromkeys(sweeps, 1)


def test_sigterm_mid_sweep_stops_a_replica_cleanly_and_loses_nothing(
    tmp_path: Path, database_url: str, fast_failover: dict[str, str]
):
    config = StackConfig.on_free_ports(
        tmp_path,
        backtester_replicas=2,
        database_url=database_url,
        service_env=fast_failover,
        with_http=False,
    )
    with running_stack(config) as stack:
        sweep_id = asyncio.run(submit(stack.bootstrap_servers, SCALE_SPEC, "sigterm"))
        wait_for_sweep(database_url, sweep_id, timeout_s=120, until=("running", "completed"))
        victim = stack.processes.get("backtester-1")
        # uvicorn re-raises the signal once it shut down gracefully; a hanging stop would exit with 1.
        assert victim.kill(signal.SIGTERM) in (0, -signal.SIGTERM)
        log = victim.log_path.read_text()
        assert "shutting down: draining the consumers" in log
        assert "consumers stopped" in log
        assert "Application shutdown complete" in log
        assert "shutdown did not finish in time" not in log
        state = wait_for_sweep(database_url, sweep_id, timeout_s=300)
        assert (state.status, state.backtests_done, state.tasks_failed) == ("completed", 2100, 0)
        assert exactly_once(database_url, sweep_id)["results"] == 2100
