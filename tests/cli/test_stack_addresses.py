"""How client commands find the stack: flag, then environment variable, then the running local stack's
``$ZIXLY_HOME/stack.json``, then the built-in default; and what they say when it is not there."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from zixly.addresses import BROKER, DASHBOARD, DATABASE, INGEST, Address, Chosen, choose
from zixly.cli import main
from zixly.stack_file import StackAddresses, read_stack_file, stack_file, write_stack_file

RUNNING = StackAddresses(
    ingest_url="http://127.0.0.1:18280",
    dashboard_url="http://127.0.0.1:18200",
    bootstrap_servers="127.0.0.1:19092",
    database_url="postgresql+asyncpg://postgres@/zixly?host=/sockets&port=5433",
    pid=os.getpid(),
)
ADDRESSES = [
    (INGEST, RUNNING.ingest_url, "http://127.0.0.1:8080"),
    (DASHBOARD, RUNNING.dashboard_url, "http://127.0.0.1:8000"),
    (BROKER, RUNNING.bootstrap_servers, "127.0.0.1:9092"),
    (DATABASE, RUNNING.database_url, "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"),
]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZIXLY_HOME", str(tmp_path))
    for address, _, _ in ADDRESSES:
        monkeypatch.delenv(address.variable, raising=False)
    return tmp_path


@pytest.mark.parametrize(("address", "from_stack", "default"), ADDRESSES)
def test_flag_then_variable_then_the_running_stack_then_the_default(
    home: Path, monkeypatch: pytest.MonkeyPatch, address: Address, from_stack: str, default: str
) -> None:
    assert choose(address, None) == Chosen(
        default, f"the default: no {address.flag}, {address.variable} or local stack"
    )
    write_stack_file(home, RUNNING)
    assert choose(address, None) == Chosen(from_stack, f"the local stack's, from {home / 'stack.json'}")
    monkeypatch.setenv(address.variable, "from-the-environment")
    assert choose(address, None) == Chosen("from-the-environment", address.variable)
    assert choose(address, "from-the-flag") == Chosen("from-the-flag", address.flag)


def test_the_stack_file_is_private_and_a_killed_stacks_file_is_ignored(home: Path) -> None:
    write_stack_file(home, RUNNING)
    assert stat.S_IMODE(stack_file(home).stat().st_mode) == 0o600
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    write_stack_file(home, StackAddresses(**{**RUNNING.__dict__, "pid": int(gone.stdout)}))
    assert read_stack_file(home) == {}
    assert choose(INGEST, None).value == "http://127.0.0.1:8080"


def test_sweep_submit_posts_to_the_running_stacks_ingest(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on port 1: the message shows which address was used and why.
    write_stack_file(home, StackAddresses(**{**RUNNING.__dict__, "ingest_url": "http://127.0.0.1:1"}))
    monkeypatch.setenv("ZIXLY_WEBHOOK_SECRET", "whsec_" + "A" * 32)
    sweep = home / "sweep.json"
    sweep.write_text("{}")
    assert main(["sweep", "submit", str(sweep)]) == 1
    assert capsys.readouterr().err.startswith(
        f"error: cannot reach ingest at http://127.0.0.1:1 (the local stack's, from {home / 'stack.json'}): "
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["dlq", "list"],
        ["dlq", "show", "backtests.tasks.dlq:0:1"],
        ["replay", "--schema", "replay_check", "--database-url", "postgresql+asyncpg://nobody@127.0.0.1:1/x"],
    ],
)
def test_an_unreachable_broker_is_one_line_after_the_one_naming_it(home: Path, argv: list[str]) -> None:
    env = {**os.environ, "ZIXLY_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from zixly.cli import main; sys.exit(main(sys.argv[1:]))", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stderr.splitlines()
    assert (done.returncode, done.stdout) == (1, "")
    assert lines[0] == "broker 127.0.0.1:1 (ZIXLY_KAFKA_BOOTSTRAP_SERVERS)"
    assert lines[-1] == (
        "error: cannot reach the broker at 127.0.0.1:1 (ZIXLY_KAFKA_BOOTSTRAP_SERVERS): "
        "no broker answers there"
    )
    assert len(lines) == (3 if argv[0] == "replay" else 2), done.stderr  # replay also names its database
