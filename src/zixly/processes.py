"""Child processes of the local stack: started with their own log file, stopped gently, then firmly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dying_with_this_process(argv: list[str]) -> list[str]:
    """``argv`` run so that it gets SIGTERM when this process dies, however it dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-m", "zixly.die_with_parent", str(os.getpid()), *argv]


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    health_url: str | None = None
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` to the child's process group and wait for it to end; return its exit code."""
        if self.alive():
            os.killpg(self.process.pid, sig)
        return self.process.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


@dataclass
class ProcessGroup:
    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str], health_url: str | None = None) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                dying_with_this_process(argv),
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child = Child(name, process, log_path, health_url, list(argv), dict(env))
        self.children.append(child)
        return child

    def restart(self, child: Child) -> Child:
        """Start ``child`` again (same command, environment and log file), in its place in the group."""
        if child.alive():
            raise RuntimeError(f"{child.name} is still running")
        index = self.children.index(child)
        self.children.remove(child)
        fresh = self.start(child.name, child.argv, child.env, child.health_url)
        self.children.remove(fresh)
        self.children.insert(index, fresh)
        return fresh

    def get(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def wait_healthy(self, child: Child, timeout_s: float = 60.0) -> None:
        assert child.health_url is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.tail()}")
            try:
                if httpx.get(child.health_url, timeout=2.0).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{child.name} was not ready within {timeout_s:.0f} s:\n{child.tail()}")

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM every child (newest first), wait up to ``grace_s``, then SIGKILL the rest.

        Further Ctrl-C or SIGTERM while stopping are ignored, so a second signal cannot leave children
        running.
        """
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)
        for child in reversed(self.children):
            if child.alive():
                os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in reversed(self.children):
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        self.children.clear()
