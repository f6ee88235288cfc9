"""One real sweep on real data through every service, each a separate process, over the real protocols."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from zixly.demo import wait_for_sweep
from zixly.pipeline import topic_events
from zixly.stack import StackConfig, running_stack
from zixly.webhooks import signed_headers, sweep_payload
from zixly_contracts.events import SweepCompleted
from zixly_contracts.topics import SWEEPS_LIFECYCLE, SWEEPS_REQUESTED

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SPEC = {
    "name": "e2e",
    "datasets": [{"symbol": "GOOG_1d", "periods_per_year": 252}],
    "strategies": [
        {
            "name": "sma_cross",
            "grid": {"fast": [10, 20, 50], "slow": [20, 50, 200]},
            "constraints": [{"left": "fast", "op": "<", "right": "slow"}],
        }
    ],
    "execution": {"cash": 10000, "fill": "close", "units": "whole"},
    "batch_size": 2,
}
#: Long-only SMA crossover on GOOG_1d.csv, fills at the signal bar's close, whole units, no fees
#: (data/README.md and the engine's pinned values).
PINNED_TOTAL_RETURN = {(10, 20): 6.192492, (20, 50): 1.842073, (50, 200): 0.217995}


def post(stack, body: str, webhook_id: str) -> httpx.Response:
    headers = signed_headers(stack.webhook_secret, body, webhook_id=webhook_id)
    return httpx.post(
        f"{stack.ingest_url}/webhooks/{stack.webhook_source}",
        content=body.encode(),
        headers=headers,
        timeout=30,
    )


def test_signed_webhook_becomes_ranked_results(tmp_path: Path, database_url: str) -> None:
    config = StackConfig.on_free_ports(
        tmp_path,
        backtester_replicas=2,
        database_url=database_url,
    )
    with running_stack(config) as stack:
        body = sweep_payload(SPEC)
        accepted = post(stack, body, "msg_e2e_1")
        assert accepted.status_code == 202, accepted.text
        sweep_id = accepted.json()["sweep_id"]

        sweep = wait_for_sweep(stack.dashboard_url, sweep_id, timeout_s=120, echo=lambda _: None)
        assert sweep["status"] == "completed"
        # 6 SMA pairs with fast < slow, plus the buy-and-hold baseline every sweep reports.
        assert sweep["backtest_count"] == 7
        assert sweep["backtests_done"] == 7
        assert sweep["task_count"] == 4  # 6 SMA sets in batches of 2, 1 baseline task
        assert sweep["tasks_failed"] == 0

        results = httpx.get(
            f"{stack.dashboard_url}/api/sweeps/{sweep_id}/results",
            params={"order_by": "total_return", "limit": 100},
            timeout=10,
        ).json()
        assert len(results) == 7
        sma = {
            (r["params"]["fast"], r["params"]["slow"]): r["metrics"]
            for r in results
            if r["strategy"] == "sma_cross"
        }
        for pair, expected in PINNED_TOTAL_RETURN.items():
            assert sma[pair]["total_return"] == pytest.approx(expected, abs=1e-6), pair
        assert results[0]["metrics"]["total_return"] >= results[-1]["metrics"]["total_return"]
        assert {r["strategy"] for r in results} == {"sma_cross", "buy_and_hold"}
        pages = [
            httpx.get(
                f"{stack.dashboard_url}/api/sweeps/{sweep_id}/results",
                params={"order_by": "total_return", "limit": 3, "offset": offset},
                timeout=10,
            ).json()
            for offset in (0, 3, 6, 9)
        ]
        assert [len(page) for page in pages] == [3, 3, 1, 0]
        assert [row for page in pages for row in page] == results

        # The same webhook delivered again (re-signed): same sweep, nothing doubled, announced once.
        again = post(stack, body, "msg_e2e_1")
        assert again.status_code == 202
        assert again.json()["sweep_id"] == sweep_id
        assert again.json()["status"] == "duplicate"
        # Ingest's dedupe record absorbs the redelivery: the sweep is requested once, not replanned.
        requested = asyncio.run(topic_events(stack.bootstrap_servers, SWEEPS_REQUESTED))
        assert [e.subject for e in requested].count(sweep_id) == 1
        events = asyncio.run(topic_events(stack.bootstrap_servers, SWEEPS_LIFECYCLE))
        completions = [e for e in events if isinstance(e.data, SweepCompleted) and e.subject == sweep_id]
        assert len(completions) == 1
        assert completions[0].correlation_id == "msg_e2e_1"
        assert completions[0].data.backtest_count == 7
        after = httpx.get(f"{stack.dashboard_url}/api/sweeps/{sweep_id}", timeout=10).json()
        assert after["backtests_done"] == 7
        assert after["status"] == "completed"

        page = httpx.get(stack.dashboard_url + "/", timeout=10)
        assert page.status_code == 200
        assert "Zixly strategy sweeps" in page.text
        assert (
            json.loads(httpx.get(f"{stack.dashboard_url}/api/sweeps", timeout=10).text)[0]["sweep_id"]
            == sweep_id
        )
