"""The service-free CLI: ``backtest`` and ``sweep run`` with --json, and clear errors (exit 2)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest

from zixly_backtester.entrypoints import cli


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_backtest_json_pins_the_issue_value(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, err = run(
        capsys,
        "backtest", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "sma_cross",
        "--param", "fast=10", "--param", "slow=20", "--fill", "close", "--units", "whole", "--json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert doc["metrics"]["total_return"] == pytest.approx(6.192492, abs=1e-6)
    assert doc["params"] == {"fast": 10, "slow": 20}
    assert doc["definitions"]["fill"] == "close"
    assert doc["definitions"]["units"] == "whole"
    assert doc["definitions"]["periods_per_year"] == pytest.approx(252, abs=1)
    assert "tie_rule" in doc["definitions"]
    assert doc["bars"] == 2148


def test_backtest_options_reach_the_engine(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, _ = run(
        capsys,
        "backtest", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "sma_cross", "--cash", "5000",
        "--fee-bps", "10", "--fixed-fee", "1", "--slippage-bps", "2", "--direction", "long_short",
        "--stop-loss-pct", "8", "--take-profit-pct", "30", "--risk-free-rate", "0.02",
        "--periods-per-year", "252", "--trades", "--json",
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    d = doc["definitions"]
    assert (d["cash"], d["fee_bps"], d["fixed_fee"], d["slippage_bps"]) == (5000, 10, 1, 2)
    assert (d["direction"], d["stop_loss_pct"], d["take_profit_pct"]) == ("long_short", 8, 30)
    assert (d["risk_free_rate"], d["periods_per_year"]) == (0.02, 252)
    assert len(doc["trades"]) == doc["metrics"]["closed_trades"] + doc["metrics"]["open_trades"]
    assert {t["exit_reason"] for t in doc["trades"]} >= {"stop_loss"}


def test_backtest_table_output(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, _ = run(
        capsys, "backtest", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "buy_and_hold"
    )
    assert code == 0
    assert "total_return" in out
    assert "final_equity" in out


def test_parquet_input(capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "goog.parquet"
    pd.read_csv(data_dir / "GOOG_1d.csv").to_parquet(path)
    code, out, _ = run(
        capsys, "backtest", "--data", str(path), "--strategy", "sma_cross",
        "--param", "fast=10", "--param", "slow=20", "--fill", "close", "--units", "whole", "--json",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["metrics"]["total_return"] == pytest.approx(6.192492, abs=1e-6)


def test_sweep_run_ranks_the_grid(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, err = run(
        capsys,
        "sweep", "run", "--data", str(data_dir / "GOOG_1d.csv"), "--data", str(data_dir / "EURUSD_1h.csv"),
        "--strategy", "sma_cross", "--grid", "fast=5:50:5", "--grid", "slow=20:210:10",
        "--constraint", "fast<slow", "--fill", "close", "--units", "whole", "--rank-by", "total_return",
        "--top", "0", "--json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert doc["param_sets"] == 184
    assert len(doc["results"]) == 2 * 184
    returns = [r["metrics"]["total_return"] for r in doc["results"]]
    assert returns == sorted(returns, reverse=True)
    assert [r["rank"] for r in doc["results"]] == list(range(1, 369))
    goog = [r for r in doc["results"] if r["dataset"] == "GOOG_1d.csv"]
    pinned = next(r for r in goog if r["params"] == {"fast": 10, "slow": 20})
    assert pinned["metrics"]["total_return"] == pytest.approx(6.192492, abs=1e-6)
    assert set(doc["baseline"]) == {"GOOG_1d.csv", "EURUSD_1h.csv"}
    stats = doc["statistics"]["GOOG_1d.csv"]
    assert {"deflated_sharpe", "pbo", "out_of_sample", "walk_forward"} <= set(stats)
    assert doc["definitions"]["EURUSD_1h.csv"]["periods_per_year"] > 5_000  # hourly bars, read off the data


def test_sweep_run_lists_sampling_and_table(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    argv = [
        "sweep", "run", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "rsi_reversion",
        "--grid", "period=7,14,21", "--grid", "lower=20:35:5", "--grid", "upper=70",
        "--sample", "5", "--seed", "3",
    ]  # fmt: skip
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    first = json.loads(out)
    assert first["param_sets"] == 5
    code, again, _ = run(capsys, *argv, "--json")
    assert json.loads(again)["results"] == first["results"]
    code, table, _ = run(capsys, *argv)
    assert code == 0
    assert "ranked by sharpe" in table


def bad_csv(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return str(path)


HEADER = "timestamp,Open,High,Low,Close,Volume\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("timestamp,Open,High,Low,Volume\n2020-01-01,1,1,1,1\n", "missing column(s): Close"),
        (HEADER + "2020-01-02,1,1,1,1,1\n2020-01-01,1,1,1,1,1\n", "not sorted"),
        (HEADER + "2020-01-01,1,1,1,1,1\n2020-01-01,1,1,1,1,1\n", "duplicate timestamp"),
        (HEADER + "2020-01-01,1,1,1,1,1\n2020-01-02,1,1,1,,1\n", "'Close' has a NaN at row 2"),
        (HEADER, "no rows"),
        ("", "empty"),
    ],
)
def test_bad_files_exit_2_with_a_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    code, out, err = run(
        capsys, "backtest", "--data", bad_csv(tmp_path, content), "--strategy", "buy_and_hold"
    )
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert message in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--strategy", "sma_cross", "--param", "fast=0"], "outside"),
        (["--strategy", "sma_cross", "--param", "fast"], "name=value"),
        (["--strategy", "sma_cross", "--param", "fast=abc"], "not a number"),
        (["--strategy", "sma_cross", "--cash", "-5"], "cash must be positive"),
        (["--strategy", "sma_cross", "--periods-per-year", "0"], "periods-per-year"),
    ],
)
def test_bad_params_exit_2(
    capsys: pytest.CaptureFixture[str], data_dir: Path, extra: list[str], message: str
) -> None:
    code, _, err = run(capsys, "backtest", "--data", str(data_dir / "GOOG_1d.csv"), *extra)
    assert code == 2
    assert message in err


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "backtest", "--data", str(tmp_path / "none.csv"), "--strategy", "buy_and_hold")
    assert code == 2
    assert "no such file" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "fast=50:5:5"], "below its start"),
        (["--grid", "fast=1:2:3:4"], "start:stop"),
        (["--constraint", "fast<<slow"], "--constraint must look like"),
        (["--constraint", "__import__('os')<slow"], "--constraint must look like"),
        (["--grid", "fast=30", "--grid", "slow=20", "--constraint", "fast<slow"], "no parameter set"),
        (["--grid", "fast=1:100", "--max-combinations", "10"], "the limit is 10"),
        (["--rank-by", "luck"], "--rank-by must be one of"),
    ],
)
def test_bad_sweeps_exit_2(
    capsys: pytest.CaptureFixture[str], data_dir: Path, extra: list[str], message: str
) -> None:
    code, _, err = run(
        capsys, "sweep", "run", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "sma_cross", *extra
    )
    assert code == 2
    assert message in err


def test_argparse_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["backtest", "--strategy", "sma_cross"])
    assert exc.value.code == 2
    assert cli.main([]) == 2


def test_constraint_parsing_is_data() -> None:
    assert cli.parse_constraint("fast < slow") == ("fast", "<", "slow")
    assert cli.parse_constraint("period>=5") == ("period", ">=", 5)
    assert cli.parse_constraint("k!=2.5") == ("k", "!=", 2.5)


def test_subcommands_plug_into_a_parent_parser(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parent = argparse.ArgumentParser(prog="zixly")
    cli.add_subcommands(parent.add_subparsers(dest="command"))
    args = parent.parse_args(
        ["backtest", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "buy_and_hold", "--json"]
    )
    assert cli.run_handler(args) == 0
    assert json.loads(capsys.readouterr().out)["strategy"] == "buy_and_hold"


def test_list_strategies(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--list-strategies")
    assert code == 0
    assert "donchian_breakout" in out
    assert "requires fast < slow" in out
