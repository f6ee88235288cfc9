"""Child processes of the local stack: started with their own log file, stopped gently, then firmly."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    health_url: str | None = None

    def alive(self) -> bool:
        return self.process.poll() is None

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
                argv, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        child = Child(name, process, log_path, health_url)
        self.children.append(child)
        return child

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
        """SIGTERM every child (newest first), wait up to ``grace_s``, then SIGKILL the rest."""
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
