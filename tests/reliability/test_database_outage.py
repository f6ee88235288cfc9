"""PostgreSQL stopped for 10 s in the middle of a sweep: the sweep completes after it returns, nothing lost.

The server is a private one (stopping the machine's shared server would disturb everybody else).
While it is away the aggregator's projections fail; each failed event goes to the retry topic with
backoff (1, 2, 4, 8 … s) and is projected once the database answers again. Nothing reaches the DLQ.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest

from zixly.infrastructure import PrivatePostgres
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
from zixly_contracts.topics import BACKTESTS_RESULTS, SWEEPS_LIFECYCLE, dead_letter_topic

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(420)]

OUTAGE_S = 10.0


def test_a_database_outage_mid_sweep_is_retried_not_dropped(
    tmp_path: Path, private_postgres: PrivatePostgres, fast_failover: dict[str, str]
):
    database_url = private_postgres.create_database(f"outage_{uuid.uuid4().hex[:8]}")
    spec = {**SCALE_SPEC, "batch_size": 8}  # 264 tasks: the sweep is still running when the database stops
    config = StackConfig.on_free_ports(
        tmp_path,
        backtester_replicas=2,
        database_url=database_url,
        service_env=fast_failover,
        with_http=False,
    )
    with running_stack(config) as stack:
        sweep_id = asyncio.run(submit(stack.bootstrap_servers, spec, "outage-1"))
        deadline = time.monotonic() + 120
        while True:
            state = asyncio.run(sweep_state(database_url, sweep_id))
            if state is not None and state.tasks_done >= 5:
                break
            assert time.monotonic() < deadline, "the sweep did not start"
            time.sleep(0.05)
        private_postgres.stop()
        stopped_at = time.monotonic()
        aggregator = stack.processes.get("aggregator")
        # Liveness does not depend on the database (or Kafka): the aggregator stays alive throughout.
        health = aggregator.health_url.replace("/readyz", "/healthz")
        while time.monotonic() - stopped_at < OUTAGE_S:
            assert httpx.get(health, timeout=5).status_code == 200
            time.sleep(1.0)
        private_postgres.start()

        final = wait_for_sweep(database_url, sweep_id, timeout_s=180)
        assert final.status == "completed"
        assert state.tasks_done < final.task_count  # the outage began mid-sweep
        assert final.tasks_failed == 0
        assert final.backtests_done == final.backtest_count == 2100
        counts = asyncio.run(
            query(
                database_url,
                "SELECT (SELECT count(*) FROM results WHERE sweep_id = :s) AS results, "
                "(SELECT count(*) FROM tasks WHERE sweep_id = :s) AS tasks",
                s=sweep_id,
            )
        )[0]
        assert counts == {"results": 2100, "tasks": final.task_count}
        retried = asyncio.run(topic_events(stack.bootstrap_servers, BACKTESTS_RESULTS + ".retry"))
        assert retried, "the outage made some projections fail and retry"
        assert asyncio.run(topic_events(stack.bootstrap_servers, dead_letter_topic(BACKTESTS_RESULTS))) == []
        lifecycle = asyncio.run(topic_events(stack.bootstrap_servers, SWEEPS_LIFECYCLE))
        completions = [e for e in lifecycle if isinstance(e.data, SweepCompleted) and e.subject == sweep_id]
        assert len(completions) == 1
        assert len(asyncio.run(results_by_params(database_url, sweep_id))) == 2100
