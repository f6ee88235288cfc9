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


@pytest.mark.parametrize(
    ("variable", "value", "error"),
    [
        (
            "ZIXLY_INGEST_PORT",
            "abc",
            "error: ZIXLY_INGEST_PORT must be a port number from 1 to 65535, not 'abc'",
        ),
        (
            "ZIXLY_DASHBOARD_PORT",
            "99999",
            "error: ZIXLY_DASHBOARD_PORT must be a port number from 1 to 65535, not '99999'",
        ),
        (
            "ZIXLY_BACKTESTER_REPLICAS",
            "abc",
            "error: ZIXLY_BACKTESTER_REPLICAS must be a whole number of at least 1 (the backtester also "
            "plans sweeps), not 'abc'",
        ),
        (
            "ZIXLY_BACKTESTER_REPLICAS",
            "0",
            "error: ZIXLY_BACKTESTER_REPLICAS must be a whole number of at least 1 (the backtester also "
            "plans sweeps), not '0'",
        ),
        (
            "ZIXLY_WEBHOOK_SECRET",
            "notasecret",
            "error: ZIXLY_WEBHOOK_SECRET: must look like 'whsec_<base64>' (a Standard Webhooks secret); "
            "expected 'whsec_' followed by the base64 of a key of at least 24 bytes",
        ),
    ],
)
@pytest.mark.parametrize("command", ["up", "demo"])
def test_a_stack_setting_it_cannot_run_with_is_one_line_and_nothing_starts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    variable: str,
    value: str,
    error: str,
) -> None:
    monkeypatch.setenv("ZIXLY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(variable, value)
    assert main([command]) == 2
    assert capsys.readouterr() == ("", error + "\n")
    assert not (tmp_path / "home").exists()


def test_a_sweep_file_that_is_not_json_is_said_so_with_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZIXLY_WEBHOOK_SECRET", "whsec_" + "A" * 32)
    readme = tmp_path / "README.md"
    readme.write_text('{\n  "name": "x",\n  oops\n}\n')
    assert main(["sweep", "submit", str(readme), "--url", "http://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err == (
        f"error: {readme} is not JSON: "
        "Expecting property name enclosed in double quotes at line 3, column 3\n"
    )


@pytest.mark.parametrize("sweep_id", ["", "?limit=1", "../../api/sweeps", "a#b", "x" * 129, "abc\n"])
def test_sweep_status_refuses_what_is_not_a_sweep_id_before_asking_the_dashboard(
    capsys: pytest.CaptureFixture[str], sweep_id: str
) -> None:
    # No dashboard listens on port 1: an answer at all shows the id was checked first.
    assert main(["sweep", "status", sweep_id, "--dashboard", "http://127.0.0.1:1"]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        "",
        f"error: {sweep_id!r} is not a sweep id (1-128 of A-Z a-z 0-9 _ . : -), as `zixly sweep submit` "
        "prints it\n",
    )
