"""A child of the local stack ends when the stack process dies, even by ``kill -9`` (Linux)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")

PARENT = """
import sys, time
from pathlib import Path
from zixly.processes import ProcessGroup

group = ProcessGroup(Path(sys.argv[1]))
child = group.start("sleeper", ["sleep", "120"], {})
print(child.process.pid, flush=True)
time.sleep(120)
"""


def gone(pid: int) -> bool:
    """Ended, or ended and not yet reaped by whoever adopted it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_kill_9_of_the_parent_ends_its_children(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    try:
        assert not gone(child_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while not gone(child_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(child_pid)
    finally:
        if not gone(child_pid):
            os.kill(child_pid, signal.SIGKILL)
