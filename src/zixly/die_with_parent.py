"""``python -m zixly.die_with_parent PARENT_PID COMMAND…``: run COMMAND so that it gets SIGTERM when the
process that started it dies, even by ``kill -9`` (Linux ``PR_SET_PDEATHSIG``, kept across ``exec``).

Where ``prctl`` is unavailable the command simply runs. A parent already gone before the setting took
effect ends the command at once instead of leaving it orphaned.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def ask_for_sigterm_on_parent_death() -> bool:
    """Set this process's parent-death signal to SIGTERM; False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def main(argv: list[str]) -> None:
    parent, command = int(argv[0]), argv[1:]
    if ask_for_sigterm_on_parent_death() and os.getppid() != parent:
        sys.exit(128 + signal.SIGTERM)
    os.execvp(command[0], command)  # noqa: S606 - the command as given, no shell


if __name__ == "__main__":
    main(sys.argv[1:])
