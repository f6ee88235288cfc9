"""``zixly up`` across restarts: re-submitting a file is a redelivery, and a sweep that was in flight when
the stack stopped (its tasks gone with the in-memory broker) does not stay ``requested``/``running``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from zixly.abandoned_postgres import stop_abandoned_postgres
from zixly.cli import main
from zixly.pipeline import INTERRUPTED_REASON, topic_events, wait_for_sweep
from zixly.stack import StackConfig, running_stack
from zixly.stack_file import read_stack_file
from zixly_contracts.topics import SWEEPS_REQUESTED

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SPEC = {
    "name": "restart",
    "datasets": [{"symbol": "GOOG_1d", "periods_per_year": 252}],
    "strategies": [{"name": "sma_cross", "grid": {"fast": [10], "slow": [20]}}],
    "execution": {"cash": 10000, "fill": "close", "units": "whole"},
}


def test_resubmitted_file_is_a_duplicate_and_a_restart_fails_the_sweep_in_flight(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZIXLY_HOME", str(tmp_path))
    monkeypatch.delenv("ZIXLY_WEBHOOK_SECRET", raising=False)
    sweep_file = tmp_path / "sweep.json"
    sweep_file.write_text(json.dumps(SPEC))

    def config() -> StackConfig:
        # No backtester: nothing plans the sweep, so it is still in flight when the stack stops.
        return StackConfig.on_free_ports(
            tmp_path,
            backtester_replicas=0,
            database_url=database_url,
        )

    said: list[str] = []
    with running_stack(config(), echo=said.append) as stack:
        assert said == []
        assert read_stack_file(tmp_path) == {
            "ingest_url": stack.ingest_url,
            "dashboard_url": stack.dashboard_url,
            "bootstrap_servers": stack.bootstrap_servers,
            "database_url": database_url,
            "pid": os.getpid(),
        }
        submit = ["sweep", "submit", str(sweep_file), "--url", stack.ingest_url, "--webhook-id", "msg_again"]
        assert main(submit) == 0
        first = json.loads(capsys.readouterr().out)
        assert main(submit) == 0
        second = json.loads(capsys.readouterr().out)
        assert first["status"] == "accepted"
        assert second == {**first, "status": "duplicate"}
        sweep_id = first["sweep_id"]
        requested = asyncio.run(topic_events(stack.bootstrap_servers, SWEEPS_REQUESTED))
        assert [e.subject for e in requested] == [sweep_id]
        in_flight = wait_for_sweep(database_url, sweep_id, timeout_s=60, until=("requested",))
        assert in_flight.status == "requested"

    with running_stack(config(), echo=said.append) as stack:
        assert said == [
            f"sweep {sweep_id} was in flight when the stack last stopped: failed ({INTERRUPTED_REASON})"
        ]
        sweep = httpx.get(f"{stack.dashboard_url}/api/sweeps/{sweep_id}", timeout=10).json()
        assert (sweep["status"], sweep["failure_reason"]) == ("failed", INTERRUPTED_REASON)
        assert sweep["backtests_done"] == 0

    # A final sweep is left alone on the next start.
    with running_stack(config(), echo=said.append) as stack:
        assert len(said) == 1
        sweep = httpx.get(f"{stack.dashboard_url}/api/sweeps/{sweep_id}", timeout=10).json()
        assert (sweep["status"], sweep["failure_reason"]) == ("failed", INTERRUPTED_REASON)
    assert read_stack_file(tmp_path) == {}
    assert not (tmp_path / "stack.json").exists()


HOLDER = """
import sys, time
from pathlib import Path
from zixly.infrastructure import start_embedded_postgres

print(start_embedded_postgres(Path(sys.argv[1])), flush=True)
time.sleep(120)
"""


def test_a_database_left_running_by_a_killed_stack_is_stopped_on_the_next_start(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(pgdata)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().startswith("postgresql+asyncpg://")
    server_pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    assert stop_abandoned_postgres(pgdata) is None  # still held by a live process: left alone
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    assert stop_abandoned_postgres(pgdata) == server_pid
    assert not (pgdata / "postmaster.pid").exists()
    assert stop_abandoned_postgres(pgdata) is None
