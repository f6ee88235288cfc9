"""A task longer than ``max_poll_interval_ms`` neither starts a rebalance loop nor runs twice (aiokafka #848).

The backtester runs in this process, built by its own composition root with a dataset source that takes
3 s per load (a slow object store), and a poll interval of 1 s: planning the sweep (it checks the
dataset) and every task last three poll intervals.
The consumer shell runs it with the partitions paused while its poll loop goes on, so the member stays
in the group: one assignment, each task once, every result once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from zixly.pipeline import query, submit, sweep_state
from zixly.stack import StackConfig, running_stack
from zixly_backtester.adapters.datasets import StoreDatasetSource
from zixly_backtester.adapters.object_store import open_store
from zixly_backtester.bootstrap import build
from zixly_backtester.config import Settings
from zixly_backtester.domain.bars import Bars

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(300)]

SPEC = {
    "name": "long tasks",
    "datasets": [{"symbol": "GOOG_1d", "periods_per_year": 252}],
    "strategies": [{"name": "sma_cross", "grid": {"fast": [10, 20], "slow": [50, 100]}}],
    "execution": {"fill": "close"},
    "batch_size": 2,
}
POLL_INTERVAL_MS = 1000
LOAD_S = 3.0


class SlowDatasets:
    """The real dataset source behind an object store that takes ``LOAD_S`` per read."""

    def __init__(self, inner: StoreDatasetSource) -> None:
        self.inner = inner
        self.loads = 0

    async def load(self, symbol: str) -> Bars:
        self.loads += 1
        await asyncio.sleep(LOAD_S)
        return await self.inner.load(symbol)


async def run_sweep(stack, database_url: str) -> tuple:  # noqa: ANN001
    settings = Settings(
        kafka_bootstrap_servers=stack.bootstrap_servers,
        object_store_url=stack.objects_dir.as_uri(),
        kafka_max_poll_interval_ms=POLL_INTERVAL_MS,
        kafka_session_timeout_ms=6000,
        kafka_heartbeat_interval_ms=500,
    )
    datasets = SlowDatasets(StoreDatasetSource(open_store(settings.object_store_url)))
    registry = CollectorRegistry()
    app = build(settings, registry=registry, datasets=datasets)
    async with app.start_lifespan_context():
        deadline = time.monotonic() + 60
        while not all(r.joined() for r in app.runtimes):
            assert time.monotonic() < deadline, "the backtester did not join its groups"
            await asyncio.sleep(0.1)
        sweep_id = await submit(stack.bootstrap_servers, SPEC, "long-tasks")
        deadline = time.monotonic() + 180
        while (state := await sweep_state(database_url, sweep_id)) is None or state.status != "completed":
            assert time.monotonic() < deadline, f"the sweep did not complete: {state}"
            await asyncio.sleep(0.2)
        tasks = await query(database_url, "SELECT duration_ms FROM tasks WHERE sweep_id = :s", s=sweep_id)
    return state, tasks, datasets, registry


def test_a_task_longer_than_the_poll_interval_runs_once_without_rebalancing(
    tmp_path: Path, database_url: str, fast_failover: dict[str, str]
):
    config = StackConfig.on_free_ports(
        tmp_path,
        backtester_replicas=0,
        database_url=database_url,
        service_env=fast_failover,
        with_http=False,
    )
    with running_stack(config) as stack:
        state, tasks, datasets, registry = asyncio.run(run_sweep(stack, database_url))

    assert state.task_count == 3  # 4 SMA sets in batches of 2, and the buy-and-hold baseline
    assert len(tasks) == 3
    assert all(t["duration_ms"] > 2 * POLL_INTERVAL_MS for t in tasks)  # each lasted beyond the interval
    assert datasets.loads == 1 + 3  # the planner checks the dataset once, then every task runs once
    assert registry.get_sample_value("zixly_backtester_tasks_total", {"outcome": "completed"}) == 3
    # One assignment at start-up, none since: no member left the group, no rebalance loop.
    for group in ("zixly-planner", "zixly-backtester"):
        assert registry.get_sample_value("zixly_consumer_rebalances_total", {"group": group}) == 1, group
    assert state.backtests_done == 5
