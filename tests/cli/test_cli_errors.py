"""What the ``zixly`` command says when it is given something wrong, or its reader goes away: one line,
no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from zixly.cli import main
from zixly_backtester.entrypoints.cli_options import EXIT_READER_GONE


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["dlq", "show", "garbage"],
            "error: 'garbage' is not <dlq topic>:<partition>:<offset>, as `zixly dlq list` prints it\n",
        ),
        (
            ["dlq", "show", "nope:0:0"],
            "error: 'nope:0:0' does not name a dead-letter topic (<topic>.dlq:<partition>:<offset>)\n",
        ),
        (
            ["dlq", "redrive", "backtests.tasks.dlq:0:1", "backtests.tasks.dlq:x:1"],
            "error: 'backtests.tasks.dlq:x:1' is not <dlq topic>:<partition>:<offset>, "
            "as `zixly dlq list` prints it\n",
        ),
    ],
)
def test_a_malformed_dead_letter_ref_is_refused_before_any_broker_is_asked(
    capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    # No broker listens on port 1: an answer at all shows the ref was checked first.
    assert main([argv[0], "--bootstrap", "127.0.0.1:1", *argv[1:]]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", error)


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    command = subprocess.Popen(
        [sys.executable, "-c", "import sys; from zixly.cli import main; sys.exit(main(['strategies']))"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    command.stdout.close()  # like `zixly strategies | head -0`: gone before the first line is written
    _, err = command.communicate(timeout=60)
    assert (command.returncode, err.decode()) == (EXIT_READER_GONE, "")


@pytest.fixture
def stack_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZIXLY_HOME", str(tmp_path))
    monkeypatch.delenv("ZIXLY_DATABASE_URL", raising=False)
    return tmp_path


def test_replay_uses_the_database_of_the_local_stack_unless_told_otherwise(
    stack_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zixly.cli import _database_url

    assert _database_url(None) == (
        "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        "the default: no --database-url, ZIXLY_DATABASE_URL or local stack",
    )
    (stack_home / "database-url").write_text("postgresql+asyncpg://zixly@127.0.0.1:54329/zixly\n")
    assert _database_url(None) == (
        "postgresql+asyncpg://zixly@127.0.0.1:54329/zixly",
        f"the local stack's, from {stack_home / 'database-url'}",
    )
    monkeypatch.setenv("ZIXLY_DATABASE_URL", "postgresql+asyncpg://env@db/x")
    assert _database_url(None) == ("postgresql+asyncpg://env@db/x", "ZIXLY_DATABASE_URL")
    flag = "postgresql+asyncpg://flag@db/y"
    assert _database_url(flag) == (flag, "--database-url")
