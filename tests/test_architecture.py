"""The dependency rule and the lock, checked on every test run (not only by `make lint`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_import_contracts_are_kept():
    """Services never import each other; libraries import no service; layers inside each service."""
    lint = [str(BIN / "lint-imports")]
    result = subprocess.run(lint, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_lock_matches_every_pyproject():
    # `uv run` tells its children where uv is; otherwise it is on PATH (make installs it).
    uv = os.environ.get("UV") or shutil.which("uv") or "uv"
    result = subprocess.run([uv, "lock", "--check"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
