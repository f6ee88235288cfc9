"""The service-free CLI: ``backtest`` and ``sweep run`` with --json, and clear errors (exit 2)."""

from __future__ import annotations

import argparse
import json
import re
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
        (["--constraint", "fast<<slow"], "--constraint 'fast<<slow': expected name<op>name"),
        (["--constraint", "__import__('os')<slow"], "is not a parameter name"),
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


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "abc", "", "0", "-1", "1e300"])
def test_bad_max_sweep_gib_is_one_line_naming_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, data_dir: Path, value: str
) -> None:
    monkeypatch.setenv("ZIXLY_MAX_SWEEP_GIB", value)
    code, out, err = run(
        capsys, "sweep", "run", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "sma_cross"
    )
    assert (code, out) == (2, "")
    assert f"ZIXLY_MAX_SWEEP_GIB must be a positive, finite number of GiB (got {value!r})" in err
    assert len(err.strip().splitlines()) == 1


def test_max_sweep_gib_accepts_fractions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIXLY_MAX_SWEEP_GIB", " 0.5 ")
    assert cli.max_sweep_bytes() == 2**29
    monkeypatch.delenv("ZIXLY_MAX_SWEEP_GIB")
    assert cli.max_sweep_bytes() == 2 * 2**30


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


# ---------------------------------------------------------------------------------------------------
# ranking direction, statistics labels


def sweep_json(
    capsys: pytest.CaptureFixture[str],
    data_dir: Path,
    *extra: str,
    grid: tuple[str, ...] = ("fast=5:50:15", "slow=20:100:40"),
) -> tuple[dict, str]:
    grids = [a for g in grid for a in ("--grid", g)]
    code, out, err = run(
        capsys,
        "sweep", "run", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "sma_cross",
        *grids, "--top", "0", "--json", *extra,
    )  # fmt: skip
    assert code == 0, err
    return json.loads(out), err


@pytest.mark.parametrize(
    ("metric", "lowest_first"),
    [
        ("annual_volatility", True),
        ("max_drawdown_bars", True),
        ("max_drawdown_days", True),
        ("max_drawdown", False),  # negative: -0.1 ranks above -0.3
        ("sharpe", False),
        ("total_return", False),
        ("calmar", False),
    ],
)
def test_rank_by_direction(
    capsys: pytest.CaptureFixture[str], data_dir: Path, metric: str, lowest_first: bool
) -> None:
    doc, _ = sweep_json(capsys, data_dir, "--rank-by", metric)
    values = [r["metrics"][metric] for r in doc["results"]]
    present = [v for v in values if v is not None]
    assert present == sorted(present, reverse=not lowest_first)
    assert values[: len(present)] == present  # nulls last
    assert len(set(present)) > 1


def test_rank_by_help_states_the_direction(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["sweep", "run", "--help"], prog="zixly")
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "lowest first: annual_volatility, max_drawdown_bars, max_drawdown_days" in text
    assert "max_drawdown is negative, so the shallowest drawdown ranks first" in text


def test_table_shows_the_rank_by_column(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, err = run(
        capsys,
        "sweep", "run", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "sma_cross",
        "--grid", "fast=10", "--grid", "slow=20", "--rank-by", "annual_volatility",
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert (
        lines[0] == "sma_cross: 1 parameter sets × 1 dataset(s), ranked by annual_volatility (lowest first)"
    )
    assert lines[1].split()[3:] == [
        "annual_volatility", "total_return", "cagr", "sharpe", "max_drawdown", "closed_trades",
    ]  # fmt: skip
    row = lines[2].split()
    assert row[:3] == ["1", "GOOG_1d.csv", "fast=10,slow=20"]
    doc, _ = sweep_json(capsys, data_dir, grid=("fast=10", "slow=20"))
    volatility = doc["results"][0]["metrics"]["annual_volatility"]
    assert volatility > 0
    assert row[3] == f"{volatility:.6g}"


def test_statistics_blocks_state_what_they_select_by(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    doc, _ = sweep_json(capsys, data_dir, "--rank-by", "max_drawdown")
    stats = doc["statistics"]["GOOG_1d.csv"]
    assert "selected_by" not in stats  # true of the re-tests only, so only they say it
    assert stats["deflated_sharpe"]["selected_by"] == "sharpe"
    assert stats["pbo"]["selected_by"] == "sharpe"
    assert stats["out_of_sample"]["selected_by"] == "max_drawdown"
    assert stats["walk_forward"]["selected_by"] == "max_drawdown"
    assert doc["rank_by"] == "max_drawdown"


def test_sweep_table_prints_labelled_statistics(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, err = run(
        capsys,
        "sweep", "run", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "sma_cross",
        "--grid", "fast=5:50:15", "--grid", "slow=20:100:40", "--rank-by", "annual_volatility",
    )  # fmt: skip
    assert code == 0, err
    stats = out[out.index("statistics on GOOG_1d.csv") :].splitlines()
    assert stats[0] == "statistics on GOOG_1d.csv (12 parameter sets):"
    assert stats[1] == "  note: the re-tests cannot select by annual_volatility; they select by sharpe"
    assert stats[2].startswith("  Deflated Sharpe Ratio (selects by sharpe): ")
    assert stats[3].startswith("  Probability of Backtest Overfitting (CSCV) (selects by sharpe): ")
    assert stats[4].startswith("  out-of-sample re-test (selects by sharpe): ")
    assert stats[5].startswith("  walk-forward (selects by sharpe): 5 folds, out-of-sample total_return ")
    assert len(stats) == 6
    assert "{" not in out


def test_skipped_statistics_say_why(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, err = run(
        capsys,
        "sweep", "run", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "sma_cross",
        "--grid", "fast=10", "--grid", "slow=20", "--walk-forward", "0",
    )  # fmt: skip
    assert code == 0, err
    assert (
        "  Probability of Backtest Overfitting (CSCV) (selects by sharpe): "
        "skipped (PBO needs at least two trials)"
    ) in out.splitlines()
    assert "walk-forward" not in out


# ---------------------------------------------------------------------------------------------------
# options given twice, grid syntax


GOOG = ["--strategy", "sma_cross"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["backtest", "--data", "A.csv", "--data", "B.csv", *GOOG],
            "error: --data is given more than once; `zixly backtest` runs one file, "
            "`zixly sweep run` several (see `zixly backtest --help`)",
        ),
        (
            ["backtest", "--data", "A.csv", *GOOG, "--strategy", "macd"],
            "error: --strategy is given more than once (see `zixly backtest --help`)",
        ),
        (
            ["sweep", "run", "--data", "A.csv", *GOOG, "--rank-by", "sharpe", "--rank-by", "cagr"],
            "error: --rank-by is given more than once (see `zixly sweep run --help`)",
        ),
        (
            ["sweep", "run", "--data", "A.csv", *GOOG, "--seed", "-1"],
            "error: argument --seed: must be a non-negative integer, got -1 (see `zixly sweep run --help`)",
        ),
        (
            ["sweep", "run", "--data", "A.csv", *GOOG, "--sample", "0"],
            "error: argument --sample: must be an integer of at least 1, got 0 "
            "(see `zixly sweep run --help`)",
        ),
    ],
)
def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv, prog="zixly")
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == message + "\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--grid", "fast=5", "--grid", "fast=6"],
            "--grid fast is given more than once (list every value in one",
        ),
        (["--grid", "fast=5,,7"], "--grid fast=5,,7: the list has an empty value"),
        (["--grid", "fast=5,6,"], "--grid fast=5,6,: the list has an empty value"),
        (["--grid", "fast=5:1:1"], "--grid fast=5:1:1: the range's stop 1 is below its start 5"),
        (["--grid", "fast=1:5:0"], "--grid fast=1:5:0: the step must be positive, got 0"),
        (["--grid", "fast=1:5:x"], "--grid fast=1:5:x: 'x' is not a number"),
        (["--grid", "fast=nan"], "--grid fast=nan: 'nan' is not a number"),
        (["--grid", "1x=5"], "--grid '1x=5': '1x' is not a parameter name"),
        (
            ["--constraint", "fast>slow+100"],
            "--constraint 'fast>slow+100': expected name<op>name or name<op>number with op one of "
            "< <= > >= == != (the right side 'slow+100' is neither a parameter name nor a number; "
            "arithmetic such as slow+100 is not supported)",
        ),
        (["--constraint", "fast<speed"], "constraint on unknown parameter 'speed' of sma_cross"),
    ],
)
def test_grid_and_constraint_errors_name_the_flag(
    capsys: pytest.CaptureFixture[str], data_dir: Path, extra: list[str], message: str
) -> None:
    code, out, err = run(
        capsys, "sweep", "run", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "sma_cross", *extra
    )
    assert (code, out) == (2, "")
    assert err.startswith("error: ")
    assert message in err
    assert err.count("\n") == 1
    assert "Value error" not in err
    assert "pattern" not in err


def test_a_range_without_a_step_steps_by_one(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    doc, _ = sweep_json(capsys, data_dir, grid=("fast=5:7", "slow=30"))
    assert sorted(r["params"]["fast"] for r in doc["results"]) == [5, 6, 7]


def test_grid_parsing_is_data() -> None:
    from zixly_contracts.sweep_spec import Range

    assert cli.parse_grid(["fast=5:7", "slow=20:40:10", "k=1,2.5", "n=3"]) == {
        "fast": Range(start=5, stop=7, step=1),
        "slow": Range(start=20, stop=40, step=10),
        "k": [1, 2.5],
        "n": 3,
    }


def test_the_same_dataset_twice_in_a_sweep(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    goog = str(data_dir / "GOOG_1d.csv")
    code, _, err = run(capsys, "sweep", "run", "--data", goog, "--data", goog, "--strategy", "sma_cross")
    assert code == 2
    assert (
        err
        == "error: --data GOOG_1d.csv is given more than once (results are keyed by file name; rename one)\n"
    )


# ---------------------------------------------------------------------------------------------------
# data files


def backtest_err(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, "backtest", *argv, "--strategy", "buy_and_hold")
    assert (code, out) == (2, "")
    return err


def test_a_directory_is_not_a_data_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = backtest_err(capsys, "--data", str(tmp_path))
    assert err == f"error: --data {tmp_path}: not a regular file (a directory)\n"


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_a_device_is_not_a_data_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        backtest_err(capsys, "--data", "/dev/null")
        == "error: --data /dev/null: not a regular file (a device)\n"
    )


@pytest.mark.parametrize("name", ["goog.csv", "goog.PARQUET", "goog.Pq", "goog"])
def test_parquet_is_recognised_by_content_or_suffix(
    capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    pd.read_csv(data_dir / "GOOG_1d.csv").to_parquet(path)
    code, out, err = run(
        capsys, "backtest", "--data", str(path), "--strategy", "sma_cross",
        "--param", "fast=10", "--param", "slow=20", "--fill", "close", "--units", "whole", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["metrics"]["total_return"] == pytest.approx(6.192492, abs=1e-6)


def test_format_csv_on_a_parquet_file(
    capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "goog.csv"
    pd.read_csv(data_dir / "GOOG_1d.csv").to_parquet(path)
    err = backtest_err(capsys, "--data", str(path), "--format", "csv")
    assert err == (
        f"error: --data {path}: this is a Parquet file (it starts with PAR1), not CSV; "
        "without --format the content decides\n"
    )


def test_format_parquet_on_a_csv_file(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    path = data_dir / "GOOG_1d.csv"
    err = backtest_err(capsys, "--data", str(path), "--format", "parquet")
    assert (
        err == f"error: --data {path}: this is not a Parquet file (it does not start with PAR1); "
        "without --format the content decides\n"
    )


def test_binary_data_that_is_not_parquet(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(b"timestamp,Open\n\xc0\xff\xfe\x00garbage\n")
    err = backtest_err(capsys, "--data", str(path))
    assert err == (
        f"error: --data {path}: not UTF-8 text, so not CSV (nor Parquet: it does not start with PAR1)\n"
    )


def test_an_unparseable_timestamp_is_one_clean_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    err = backtest_err(
        capsys, "--data", bad_csv(tmp_path, HEADER + "2020-01-01,1,1,1,1,1\nnotadate,1,1,1,1,1\n")
    )
    assert err.startswith("error: --data ")
    assert 'timestamps cannot be parsed: time data "notadate"' in err
    assert err.endswith("(write every timestamp in one format, e.g. 2020-01-31 or 2020-01-31 09:30:00)\n")
    assert "You might want to try" not in err
    assert err.count("\n") == 1


def test_mixed_timestamp_formats_warn_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # a first timestamp whose format pandas cannot infer makes it parse each one alone, with a warning
    path = bad_csv(tmp_path, HEADER + "1/6/20,1,1,1,1,1\n2020-01-07,1,1,1,1,1\n2020-01-08,1,1,1,1,1\n")
    code, out, err = run(capsys, "backtest", "--data", path, "--strategy", "buy_and_hold", "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert (doc["first_bar"], doc["bars"]) == ("2020-01-06T00:00:00.000000000", 3)


def test_settings_errors_name_the_options(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    err = backtest_err(
        capsys, "--data", str(data_dir / "GOOG_1d.csv"), "--fee-bps", "5000", "--slippage-bps", "-1"
    )
    assert err == "error: --fee-bps must be within [-100, 1000]; --slippage-bps must be within [0, 1000]\n"


# ---------------------------------------------------------------------------------------------------
# help


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exc:
        cli.main([*argv, "--help"], prog="zixly")
    assert exc.value.code == 0
    return capsys.readouterr().out


def squeezed(text: str) -> str:
    """``text`` without whitespace, so phrases match however argparse wraps them."""
    return re.sub(r"\s+", "", text)


def test_help_names_the_command_and_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    bt_text = help_text(capsys, "backtest")
    assert bt_text.startswith("usage: zixly backtest ")
    bt = squeezed(bt_text)
    assert squeezed("position size in fractional or whole units (default: fractional)") in bt
    assert squeezed("long_only goes flat on a sell signal, long_short goes short (default: long_only)") in bt
    assert squeezed("initial cash (default: 10000)") in bt
    assert squeezed("fill at the next bar's open or at the signal bar's close (default: next_open)") in bt
    run_text = help_text(capsys, "sweep", "run")
    assert run_text.startswith("usage: zixly sweep run ")
    run_help = squeezed(run_text)
    for expected in [
        "out-of-sample re-test (default: 0.3)",
        "walk-forward folds, 0 = off (default: 5)",
        "(default: 10)",  # --pbo-splits
        "more parameter sets than this (default: 1000000)",
        "results to print, 0 = all (default: 20)",
        "seed of --sample (default: 0)",
        "k=start:stop (step 1)",
    ]:
        assert squeezed(expected) in run_help


def test_strategies_is_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert help_text(capsys, "strategies").startswith("usage: zixly strategies [-h]")
    with pytest.raises(SystemExit) as exc:
        cli.main(["strategies", "--bogus"], prog="zixly")
    assert exc.value.code == 2
    assert capsys.readouterr().err == "error: unrecognized arguments: --bogus (see `zixly --help`)\n"
    code, out, _ = run(capsys, "strategies")
    assert code == 0
    assert out.startswith("sma_cross: ")


# ---------------------------------------------------------------------------------------------------
# runs that cannot trade


def test_whole_units_cash_can_not_buy_warns(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, err = run(
        capsys, "backtest", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "sma_cross",
        "--units", "whole", "--cash", "50", "--json",
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert (doc["metrics"]["closed_trades"], doc["metrics"]["open_trades"]) == (0, 0)
    assert doc["metrics"]["final_equity"] == 50
    assert err == (
        "warning: GOOG_1d.csv: no position could be opened for the parameter set (0 trades): "
        "--cash 50 does not cover one whole unit plus the fees (the lowest close is 100.01); "
        "use --units fractional or more --cash\n"
    )


def test_fixed_fee_above_the_cash_warns(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, err = run(
        capsys, "sweep", "run", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "sma_cross",
        "--grid", "fast=5,10", "--grid", "slow=20", "--fixed-fee", "20000", "--json",
    )  # fmt: skip
    assert code == 0
    assert {r["metrics"]["closed_trades"] for r in json.loads(out)["results"]} == {0}
    assert err == (
        "warning: GOOG_1d.csv: no position could be opened for any of the 2 parameter sets (0 trades): "
        "--fixed-fee 20000 is not below --cash 10000\n"
    )


def test_no_warning_when_the_strategy_never_signals(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    code, out, err = run(
        capsys, "backtest", "--data", str(data_dir / "GOOG_1d.csv"), "--strategy", "sma_cross",
        "--param", "fast=20", "--param", "slow=20", "--units", "whole", "--cash", "50", "--json",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["metrics"]["closed_trades"] == 0
    assert err == ""


def test_no_warning_when_one_set_trades(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    _, err = sweep_json(capsys, data_dir, "--units", "whole", "--cash", "500")
    assert err == ""
