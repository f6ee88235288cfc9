"""One local stack per ``ZIXLY_HOME``: two would share the embedded database, and each would take the
other's in-flight sweeps for interrupted ones and overwrite its ``stack.json``."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def lock_file(home: Path) -> Path:
    return home / "stack.lock"


@contextmanager
def only_stack_under(home: Path) -> Iterator[None]:
    """Hold ``home`` for this process (the kernel lets go when it exits, even by ``kill -9``); raise
    ``RuntimeError`` naming the holder when another process holds it."""
    home.mkdir(parents=True, exist_ok=True)
    with lock_file(home).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RuntimeError(
                f"a local stack already runs under {home} (pid {holder}): stop it first, or start this "
                "one with its own ZIXLY_HOME"
            ) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
