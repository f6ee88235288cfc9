"""``zixly backtest``, ``zixly sweep run`` and ``zixly strategies`` are forwarded to the backtester's CLI
under the name users type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zixly.cli import main

GOOG = str(Path(__file__).resolve().parents[2] / "data" / "GOOG_1d.csv")


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["backtest"], "usage: zixly backtest "),
        (["sweep", "run"], "usage: zixly sweep run "),
        (["strategies"], "usage: zixly strategies [-h]"),
    ],
)
def test_help_shows_the_zixly_command(
    capsys: pytest.CaptureFixture[str], argv: list[str], usage: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(usage)


def test_usage_errors_name_the_zixly_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["backtest", "--data", GOOG, "--data", GOOG, "--strategy", "buy_and_hold"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        "error: --data is given more than once; `zixly backtest` runs one file, `zixly sweep run` several "
        "(see `zixly backtest --help`)\n"
    )


def test_strategies_refuses_unknown_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["strategies", "--bogus"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == "error: unrecognized arguments: --bogus (see `zixly --help`)\n"


def test_strategies_lists_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sma_cross: ")
    assert "buy_and_hold: " in out


def test_backtest_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--data", GOOG, "--strategy", "buy_and_hold", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bars"] == 2148
