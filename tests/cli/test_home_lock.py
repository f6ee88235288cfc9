"""One local stack per ZIXLY_HOME: a second start is refused before it starts anything, and the hold
ends with its process, however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zixly.home_lock import lock_file, only_stack_under
from zixly.stack import StackConfig, running_stack


def test_a_second_stack_under_the_same_home_is_refused_before_starting_anything(tmp_path: Path) -> None:
    with only_stack_under(tmp_path):
        with pytest.raises(RuntimeError) as refused, running_stack(StackConfig.on_free_ports(tmp_path)):
            pass
    assert str(refused.value) == (
        f"a local stack already runs under {tmp_path} (pid {os.getpid()}): stop it first, or start this "
        "one with its own ZIXLY_HOME"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.lock"]


def holder_pid(home: Path) -> str:
    path = lock_file(home)
    return path.read_text().strip() if path.exists() else ""


def test_the_hold_ends_when_its_process_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from zixly.home_lock import only_stack_under\n"
            "with only_stack_under(Path(sys.argv[1])):\n    time.sleep(60)",
            str(tmp_path),
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while holder_pid(tmp_path) != str(holder.pid):
            assert time.monotonic() < deadline, "the holder never took the home"
            time.sleep(0.05)
        with pytest.raises(RuntimeError, match=f"pid {holder.pid}"), only_stack_under(tmp_path):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    with only_stack_under(tmp_path):
        assert lock_file(tmp_path).read_text() == f"{os.getpid()}\n"
