"""``zixly up`` stops, saying why, when something its services cannot do without is gone."""

from __future__ import annotations

import sys
from pathlib import Path

from zixly.cli import supervise
from zixly.processes import ProcessGroup


def test_the_stack_stops_when_its_embedded_database_is_gone(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    assert supervise(ProcessGroup(tmp_path / "logs"), pgdata) == (
        f"the embedded database under {pgdata} stopped; `make up` starts it again"
    )


def test_a_service_that_keeps_exiting_stops_the_stack(tmp_path: Path) -> None:
    group = ProcessGroup(tmp_path / "logs")
    group.start("flaky", [sys.executable, "-c", "print('gave up'); raise SystemExit(3)"], env={})
    reason = supervise(group, None)
    assert reason.startswith("flaky keeps exiting (3):\n")
    assert "gave up" in reason
    group.stop()
