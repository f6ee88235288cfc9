"""``$ZIXLY_HOME/stack.json``: where the running local stack can be reached, for the client commands.

``zixly up`` (and the demo) write it once every service is ready and remove it when they stop; a file
left by a stack that was killed names a process that is gone and is ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zixly.processes import process_alive


@dataclass(frozen=True)
class StackAddresses:
    ingest_url: str
    dashboard_url: str
    bootstrap_servers: str
    database_url: str
    pid: int


def stack_home() -> Path:
    return Path(os.environ.get("ZIXLY_HOME", ".zixly")).resolve()


def stack_file(home: Path) -> Path:
    return home / "stack.json"


def write_stack_file(home: Path, addresses: StackAddresses) -> None:
    path = stack_file(home)
    home.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)  # the database URL may hold a password
    path.write_text(json.dumps(asdict(addresses), indent=2) + "\n")


def remove_stack_file(home: Path) -> None:
    """Remove the file; only the stack holding ``home`` (:mod:`zixly.home_lock`) ever writes it."""
    stack_file(home).unlink(missing_ok=True)


def read_stack_file(home: Path) -> dict[str, Any]:
    """What the running stack under ``home`` wrote; empty if none runs there."""
    try:
        written = json.loads(stack_file(home).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(written, dict) or not _names_a_live_process(written.get("pid")):
        return {}
    return written


def _names_a_live_process(pid: object) -> bool:
    return isinstance(pid, int) and pid > 0 and process_alive(pid)
