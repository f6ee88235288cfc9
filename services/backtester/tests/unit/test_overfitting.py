"""Deflated Sharpe Ratio, PBO by CSCV, and the out-of-sample / walk-forward re-tests."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zixly_backtester.domain import overfitting as of
from zixly_backtester.domain.bars import Bars
from zixly_backtester.domain.engine import ExecutionSettings, run_batch
from zixly_backtester.domain.grid import expand_grid
from zixly_contracts.sweep_spec import Constraint, Range, StrategyGrid


def test_expected_max_sharpe_of_100_trials() -> None:
    # (1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e)) for N = 100 and unit variance
    assert of.expected_max_sharpe(100, 1.0) == pytest.approx(2.5306, abs=1e-3)
    assert of.expected_max_sharpe(1, 1.0) == 0.0


def test_deflated_sharpe_numerical_example_of_the_paper() -> None:
    # Bailey & López de Prado (2014): SR 2.5 annualized over 1250 daily returns, 100 trials whose
    # annualized SR variance is 0.5, skewness −3, kurtosis 10 → DSR ≈ 0.90
    sr = 2.5 / math.sqrt(250)
    sr0 = of.expected_max_sharpe(100, 0.5 / 250)
    assert sr0 * math.sqrt(250) == pytest.approx(1.7894, abs=1e-3)
    dsr = of.probabilistic_sharpe_ratio(sr, sr0, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=1e-3)


def test_probabilistic_sharpe_of_normal_returns() -> None:
    got = of.probabilistic_sharpe_ratio(0.1, 0.0, 101, 0.0, 3.0)
    assert got == pytest.approx(
        0.5 * (1 + math.erf(0.1 * 10 / math.sqrt(1 + 0.01 / 2) / math.sqrt(2))), rel=1e-12
    )
    assert of.probabilistic_sharpe_ratio(0.1, 0.0, 1, 0.0, 3.0) is None


def test_deflated_sharpe_ratio_of_returns() -> None:
    rng = np.random.default_rng(3)
    trials = rng.normal(0.0, 0.01, size=(50, 1000))
    srs = of.sharpe_per_bar(trials)
    best = int(np.argmax(srs))
    out = of.deflated_sharpe_ratio(trials[best], srs)
    assert out["trials"] == 50
    assert out["sharpe_per_bar"] == pytest.approx(srs[best], rel=1e-12)
    assert out["expected_max_sharpe_per_bar"] > 0
    assert out["deflated_sharpe"] is not None
    assert out["deflated_sharpe"] < 0.95  # the best of 50 noise series is not significant
    skilled = trials[best] + 0.003
    assert of.deflated_sharpe_ratio(skilled, srs)["deflated_sharpe"] > 0.99


def test_pbo_of_noise_is_about_one_half() -> None:
    rng = np.random.default_rng(11)
    result = of.probability_of_backtest_overfitting(rng.normal(0, 0.01, size=(40, 2000)), n_splits=10)
    assert result.combinations == 252
    assert 0.3 < result.pbo < 0.7


def test_pbo_of_one_skilled_trial_is_zero() -> None:
    rng = np.random.default_rng(12)
    m = rng.normal(0, 0.01, size=(20, 2000))
    m[5] += 0.01
    result = of.probability_of_backtest_overfitting(m, n_splits=8)
    assert result.combinations == math.comb(8, 4)
    assert result.pbo == 0.0
    assert result.prob_oos_loss == 0.0


def test_pbo_when_in_sample_gains_are_out_of_sample_losses() -> None:
    # every trial's block means sum to zero over the whole sample, so whatever earns most in sample
    # gives it back out of sample: the textbook overfit
    blocks, per, trials = 8, 50, 10
    rng = np.random.default_rng(5)
    means = rng.normal(0, 0.01, size=(trials, blocks))
    means -= means.mean(axis=1, keepdims=True)
    m = np.repeat(means, per, axis=1) + rng.normal(0, 1e-4, size=(trials, blocks * per))
    m -= m.mean(axis=1, keepdims=True)
    result = of.probability_of_backtest_overfitting(m, n_splits=blocks)
    assert result.pbo > 0.9
    assert result.prob_oos_loss > 0.9


def test_pbo_rejects_bad_splits() -> None:
    with pytest.raises(ValueError, match="even"):
        of.probability_of_backtest_overfitting(np.zeros((3, 100)), n_splits=5)
    with pytest.raises(ValueError, match="too few"):
        of.probability_of_backtest_overfitting(np.zeros((3, 10)), n_splits=10)


@pytest.fixture(scope="module")
def goog_sweep(goog: Bars) -> tuple[list[dict], ExecutionSettings, object]:
    grid = StrategyGrid(
        name="sma_cross",
        grid={"fast": Range(start=5, stop=50, step=5), "slow": Range(start=20, stop=210, step=10)},
        constraints=[Constraint(left="fast", op="<", right="slow")],
    )
    sets = expand_grid(grid)
    settings = ExecutionSettings(fill="close", units="whole")
    return sets, settings, run_batch(goog, "sma_cross", sets, settings)


def test_segment_scores_agree_with_the_full_metrics(goog: Bars, goog_sweep: tuple) -> None:
    sets, settings, result = goog_sweep
    n = len(goog)
    for metric in ("sharpe", "total_return", "cagr", "sortino", "max_drawdown", "calmar"):
        scores = of.segment_scores(result.equity, settings.cash, 0, n, metric, settings.periods_per_year, 0.0)
        for i in (0, 17, 100):
            expected = result.metrics[i][metric]
            if expected is None:
                assert math.isnan(scores[i])
            else:
                assert scores[i] == pytest.approx(expected, rel=1e-9, abs=1e-12), metric


def test_out_of_sample_retest(goog: Bars, goog_sweep: tuple) -> None:
    sets, settings, result = goog_sweep
    report = of.out_of_sample_retest(goog, sets, settings, result.equity, oos_fraction=0.3)
    assert report["params"] in sets
    cut = round(len(goog) * 0.7)
    assert report["in_sample"]["bars"] == cut
    assert report["out_of_sample"]["bars"] == len(goog) - cut
    best = sets.index(report["params"])
    e = result.equity[best]
    assert report["out_of_sample"]["total_return"] == pytest.approx(e[-1] / e[cut - 1] - 1, rel=1e-12)
    assert 0.0 <= report["oos_rank_percentile"] <= 1.0


def test_walk_forward(goog: Bars, goog_sweep: tuple) -> None:
    sets, settings, result = goog_sweep
    report = of.walk_forward(goog, sets, settings, result.equity, folds=4)
    assert len(report["folds"]) == 4
    growth = math.prod(1 + f["out_of_sample"]["total_return"] for f in report["folds"])
    assert report["oos_total_return"] == pytest.approx(growth - 1, rel=1e-12)
    assert sum(f["out_of_sample"]["bars"] for f in report["folds"]) == len(goog) - len(goog) // 5


def test_sweep_statistics(goog: Bars, goog_sweep: tuple) -> None:
    sets, settings, result = goog_sweep
    stats = of.sweep_statistics(goog, "sma_cross", sets, settings, result, walk_forward_folds=3)
    assert stats["trials"] == 184
    assert 0.0 <= stats["deflated_sharpe"]["deflated_sharpe"] <= 1.0
    assert 0.0 <= stats["pbo"]["pbo"] <= 1.0
    assert stats["pbo"]["combinations"] == 252
    assert len(stats["walk_forward"]["folds"]) == 3
    # the chunked PBO equals the one on the whole matrix
    whole = of.probability_of_backtest_overfitting(of.returns_matrix(result.equity, settings.cash), 10)
    assert stats["pbo"]["pbo"] == whole.pbo
    tiny = Bars.from_arrays(close=[1.0, 2.0, 3.0])
    small = run_batch(tiny, "sma_cross", [{"fast": 1, "slow": 2}, {"fast": 1, "slow": 3}], settings)
    stats = of.sweep_statistics(
        tiny, "sma_cross", [{"fast": 1, "slow": 2}, {"fast": 1, "slow": 3}], settings, small
    )
    assert "skipped" in stats["pbo"]


def test_an_annual_rate_beyond_a_double_is_null_not_a_crash(goog: Bars) -> None:
    sets = [{"fast": 5, "slow": 20}, {"fast": 10, "slow": 20}]
    settings = ExecutionSettings(fill="close", units="whole", periods_per_year=1_000_000)
    result = run_batch(goog, "sma_cross", sets, settings)
    stats = of.sweep_statistics(goog, "sma_cross", sets, settings, result, walk_forward_folds=3)
    assert stats["out_of_sample"]["in_sample"]["cagr"] is None  # +600 % over 1,504 bars, P = 10⁶
    assert stats["walk_forward"]["oos_cagr"] is None
    assert stats["walk_forward"]["oos_total_return"] > 0
    assert result.metrics[0]["cagr"] is None  # the kernel's null for the same overflow


def test_statistics_of_trials_that_cannot_be_told_apart_are_skipped_with_the_reason() -> None:
    flat = Bars.from_arrays(close=np.full(300, 50.0))
    sets = [{"fast": f, "slow": s} for f in (2, 3) for s in (5, 10)]
    settings = ExecutionSettings(fill="close")
    result = run_batch(flat, "sma_cross", sets, settings)
    stats = of.sweep_statistics(flat, "sma_cross", sets, settings, result, walk_forward_folds=2)
    assert stats["deflated_sharpe"] == {
        "selected_by": "sharpe",
        "skipped": "the selected returns have no variance: their Sharpe ratio is undefined",
    }
    assert stats["pbo"] == {
        "selected_by": "sharpe",
        "skipped": "every trial has the same returns: there is no selection to judge",
    }


def test_trials_without_a_sharpe_ratio_count_as_trials_but_not_in_its_variance() -> None:
    rng = np.random.default_rng(3)
    best = rng.normal(0.002, 0.01, 500)
    srs = np.array([0.2, 0.1, 0.05, -0.03])
    with_flat = np.concatenate([srs, [np.nan, np.nan]])
    out = of.deflated_sharpe_ratio(best, with_flat)
    assert out["trials"] == 6
    assert out["trial_sharpe_variance"] == pytest.approx(float(np.var(srs, ddof=1)), rel=1e-15)
    assert out["expected_max_sharpe_per_bar"] == pytest.approx(
        of.expected_max_sharpe(6, float(np.var(srs, ddof=1))), rel=1e-15
    )
