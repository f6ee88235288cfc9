"""How much of a sweep's best result is luck.

- :func:`deflated_sharpe_ratio` — Bailey & López de Prado (2014), "The Deflated Sharpe Ratio:
  Correcting for Selection Bias, Backtest Overfitting and Non-Normality". The probability that the
  best Sharpe ratio of ``N`` trials beats the maximum expected from ``N`` skill-less trials.
- :func:`probability_of_backtest_overfitting` — Bailey, Borwein, López de Prado & Zhu (2017), "The
  Probability of Backtest Overfitting", by combinatorially symmetric cross-validation (CSCV).
- :func:`out_of_sample_retest` and :func:`walk_forward` — the chosen parameters re-tested on bars the
  choice did not see. Indicators are causal, so the in-sample metrics of every parameter set and the
  out-of-sample path of the chosen one are both read off the one full-period run: the chosen set keeps
  trading across the split, as it would live, and is measured only after it.

All Sharpe ratios here are per bar (not annualized) unless a name says otherwise.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

from zixly_backtester.domain.metrics import cagr, equity_metrics

if TYPE_CHECKING:
    from zixly_backtester.domain.bars import Bars
    from zixly_backtester.domain.engine import BatchResult, ExecutionSettings

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()
_CHUNK = 512
SELECTABLE = ("sharpe", "sortino", "total_return", "cagr", "calmar", "max_drawdown")


def returns_matrix(equity: np.ndarray, cash: float, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Per-bar returns of bars ``start..stop-1`` for every row (the first measured from the bar before,
    or from the initial cash at bar 0)."""
    e = np.asarray(equity, dtype=np.float64)
    stop = e.shape[1] if stop is None else stop
    prev = np.empty((e.shape[0], stop - start))
    prev[:, 1:] = e[:, start : stop - 1]
    prev[:, 0] = cash if start == 0 else e[:, start - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prev != 0.0, (e[:, start:stop] - prev) / np.abs(prev), 0.0)
    return r


def sharpe_per_bar(returns: np.ndarray, rf_per_bar: float = 0.0) -> np.ndarray:
    """Row-wise per-bar Sharpe ratio (ddof=1); NaN (undefined) for rows without variance."""
    q = np.atleast_2d(returns) - rf_per_bar
    if q.shape[1] < 2:
        return np.full(q.shape[0], np.nan)
    sd = q.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = np.where(sd > 0, q.mean(axis=1) / sd, np.nan)
    return sr


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """E[max SR] of ``n_trials`` independent skill-less trials whose SR estimates have this variance."""
    if n_trials < 2 or sharpe_variance <= 0:
        return 0.0
    a = _N.inv_cdf(1.0 - 1.0 / n_trials)
    b = _N.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b)


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark: float, n_returns: int, skewness: float, kurtosis: float
) -> float | None:
    """P[SR > benchmark] given the estimate's non-normality (kurtosis is the plain one, 3 if normal)."""
    if n_returns < 2:
        return None
    denom = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if denom <= 0:
        return None
    return _N.cdf((sharpe - benchmark) * math.sqrt(n_returns - 1) / math.sqrt(denom))


def _moments(r: np.ndarray) -> tuple[float, float]:
    """(skewness, kurtosis) — population moments, kurtosis not in excess."""
    d = r - r.mean()
    m2 = float(np.mean(d**2))
    if m2 == 0:
        return 0.0, 3.0
    return float(np.mean(d**3) / m2**1.5), float(np.mean(d**4) / m2**2)


def deflated_sharpe_ratio(
    best_returns: np.ndarray,
    trial_sharpes: np.ndarray,
    n_trials: int | None = None,
    rf_per_bar: float = 0.0,
) -> dict[str, float | int | None]:
    """DSR of the selected strategy's per-bar returns against the Sharpe ratios of all trials.

    Trials whose Sharpe ratio is undefined (NaN: no variance, e.g. never in the market) still count as
    trials (more trials deflate more), but not in the variance of the trials' Sharpe ratios. Raises
    ValueError when the selected returns have no variance: their Sharpe ratio, and so the DSR, is undefined.
    """
    r = np.asarray(best_returns, dtype=np.float64) - rf_per_bar
    srs = np.asarray(trial_sharpes, dtype=np.float64)
    n = int(n_trials if n_trials is not None else len(srs))
    t = len(r)
    sr = float(sharpe_per_bar(r[None, :])[0])
    if math.isnan(sr):
        raise ValueError("the selected returns have no variance: their Sharpe ratio is undefined")
    defined = srs[~np.isnan(srs)]
    var = float(np.var(defined, ddof=1)) if len(defined) > 1 else 0.0
    sr0 = expected_max_sharpe(n, var)
    skew, kurt = _moments(r)
    return {
        "deflated_sharpe": probabilistic_sharpe_ratio(sr, sr0, t, skew, kurt),
        "sharpe_per_bar": sr,
        "expected_max_sharpe_per_bar": sr0,
        "trials": n,
        "trial_sharpe_variance": var,
        "returns": t,
        "skewness": skew,
        "kurtosis": kurt,
    }


@dataclass(frozen=True)
class PBOResult:
    pbo: float
    logits: np.ndarray
    combinations: int
    prob_oos_loss: float
    """Share of splits where the in-sample winner's out-of-sample Sharpe is below zero."""

    def as_dict(self) -> dict[str, float | int | None]:
        finite = self.logits[np.isfinite(self.logits)]
        return {
            "pbo": self.pbo,
            "combinations": self.combinations,
            "logit_median": float(np.median(finite)) if len(finite) else None,
            "prob_oos_loss": self.prob_oos_loss,
        }


def probability_of_backtest_overfitting(returns: np.ndarray, n_splits: int = 10) -> PBOResult:
    """PBO by CSCV over a (trials × bars) matrix of per-bar returns.

    The bars are cut into ``n_splits`` (even) contiguous blocks; each of the C(S, S/2) ways to pick half
    of them is an in-sample set, its complement the out-of-sample set. The in-sample best trial (by
    Sharpe) gets its relative rank ω among all trials out of sample; λ = ln(ω / (1 − ω)), and
    PBO = P[λ ≤ 0].
    """
    m = np.atleast_2d(np.asarray(returns, dtype=np.float64))
    edges = cscv_edges(m.shape[1], n_splits, m.shape[0])
    sums, sq = block_moments(m, edges)
    return cscv(sums, sq, np.diff(edges).astype(np.float64))


def require_distinct_trials(sums: np.ndarray, sq: np.ndarray) -> None:
    """CSCV judges a selection: among trials with identical returns every pick is the same, and the
    tied ranks would read as overfitting (λ = 0). Raises ValueError then."""
    if np.all(sums == sums[:1]) and np.all(sq == sq[:1]):
        raise ValueError("every trial has the same returns: there is no selection to judge")


def cscv_edges(n_bars: int, n_splits: int, n_trials: int) -> np.ndarray:
    if n_splits < 2 or n_splits % 2:
        raise ValueError("n_splits must be an even number >= 2")
    if n_bars < 2 * n_splits:
        raise ValueError(f"{n_bars} bars are too few for {n_splits} CSCV blocks")
    if n_trials < 2:
        raise ValueError("PBO needs at least two trials")
    return np.linspace(0, n_bars, n_splits + 1).astype(np.int64)


def block_moments(returns: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row and block: the sum of the returns and the sum of their squares."""
    pairs = list(itertools.pairwise(edges.tolist()))
    sums = np.stack([returns[:, a:b].sum(axis=1) for a, b in pairs], axis=1)
    sq = np.stack([(returns[:, a:b] ** 2).sum(axis=1) for a, b in pairs], axis=1)
    return sums, sq


def cscv(sums: np.ndarray, sq: np.ndarray, counts: np.ndarray) -> PBOResult:
    """CSCV from per-block moments (trials × blocks)."""
    require_distinct_trials(sums, sq)
    n_trials, n_splits = sums.shape

    def sharpe_of(blocks: tuple[int, ...]) -> np.ndarray:
        idx = list(blocks)
        n = counts[idx].sum()
        s = sums[:, idx].sum(axis=1)
        mean = s / n
        var = np.maximum(sq[:, idx].sum(axis=1) - n * mean * mean, 0.0) / (n - 1)
        sd = np.sqrt(var)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(sd > 0, mean / sd, 0.0)

    logits = []
    losses = 0
    all_blocks = set(range(n_splits))
    for chosen in itertools.combinations(range(n_splits), n_splits // 2):
        is_sr = sharpe_of(chosen)
        oos_sr = sharpe_of(tuple(sorted(all_blocks - set(chosen))))
        best = int(np.argmax(is_sr))
        # relative rank in (0, 1): ties share the average rank
        below = float(np.sum(oos_sr < oos_sr[best]))
        equal = float(np.sum(oos_sr == oos_sr[best]))
        rank = below + (equal + 1.0) / 2.0
        omega = rank / (n_trials + 1.0)
        logits.append(math.log(omega / (1.0 - omega)))
        losses += oos_sr[best] < 0
    lam = np.asarray(logits)
    return PBOResult(
        pbo=float(np.mean(lam <= 0)),
        logits=lam,
        combinations=len(lam),
        prob_oos_loss=losses / len(lam),
    )


# ---------------------------------------------------------------------------------------------------
# re-tests of the chosen parameters


def segment_scores(
    equity: np.ndarray,
    cash: float,
    start: int,
    stop: int,
    metric: str,
    periods_per_year: float,
    rf_per_bar: float,
) -> np.ndarray:
    """``metric`` of every row on bars ``start..stop-1`` (higher is better; NaN where undefined)."""
    if metric not in SELECTABLE:
        raise ValueError(f"cannot select on {metric!r}; use one of {', '.join(SELECTABLE)}")
    out = np.empty(equity.shape[0])
    n = stop - start
    for a in range(0, equity.shape[0], _CHUNK):
        e = equity[a : a + _CHUNK]
        r = returns_matrix(e, cash, start, stop)
        base = cash if start == 0 else e[:, start - 1]
        growth = e[:, stop - 1] / base
        q = r - rf_per_bar
        if metric == "sharpe":
            sd = q.std(axis=1, ddof=1) if n > 1 else np.zeros(len(e))
            with np.errstate(divide="ignore", invalid="ignore"):
                s = np.where(sd > 0, q.mean(axis=1) / sd * math.sqrt(periods_per_year), np.nan)
        elif metric == "sortino":
            dd = np.sqrt(np.mean(np.minimum(q, 0.0) ** 2, axis=1))
            with np.errstate(divide="ignore", invalid="ignore"):
                s = np.where(dd > 0, q.mean(axis=1) / dd * math.sqrt(periods_per_year), np.nan)
        elif metric == "total_return":
            s = growth - 1.0
        else:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                annual = np.where(growth > 0, np.abs(growth) ** (periods_per_year / n) - 1.0, -1.0)
            base_col = np.full((len(e), 1), cash) if start == 0 else e[:, start - 1 : start]
            seg = np.concatenate([base_col, e[:, start:stop]], axis=1)
            mdd = (seg / np.maximum.accumulate(seg, axis=1) - 1.0).min(axis=1)
            if metric == "cagr":
                s = annual
            elif metric == "max_drawdown":
                s = mdd
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    s = np.where(mdd < 0, annual / -mdd, np.nan)
        out[a : a + _CHUNK] = s
    return out


def _pick(scores: np.ndarray) -> int:
    """The best row; undefined scores never win (the first row wins if all are undefined)."""
    if np.all(np.isnan(scores)):
        return 0
    return int(np.nanargmax(scores))


def _segment_report(
    equity_row: np.ndarray,
    cash: float,
    start: int,
    stop: int,
    timestamps: np.ndarray,
    settings: ExecutionSettings,
) -> dict[str, object]:
    base = cash if start == 0 else float(equity_row[start - 1])
    m = equity_metrics(
        equity_row[start:stop],
        base,
        timestamps[start:stop],
        risk_free_rate=settings.risk_free_rate,
        periods_per_year=settings.periods_per_year,
    )
    return {
        "from": str(timestamps[start]),
        "to": str(timestamps[stop - 1]),
        "bars": stop - start,
        **{k: m[k] for k in ("total_return", "cagr", "sharpe", "sortino", "max_drawdown")},
    }


def out_of_sample_retest(
    bars: Bars,
    param_sets: Sequence[Mapping[str, float]],
    settings: ExecutionSettings,
    equity: np.ndarray,
    *,
    metric: str = "sharpe",
    oos_fraction: float = 0.3,
) -> dict[str, object]:
    """Choose the best set on the first ``1 − oos_fraction`` of the bars, report it on the rest."""
    n = len(bars)
    if not 0 < oos_fraction < 1:
        raise ValueError("oos_fraction must be within (0, 1)")
    cut = int(round(n * (1 - oos_fraction)))
    if cut < 2 or n - cut < 2:
        raise ValueError(f"{n} bars are too few for an out-of-sample split of {oos_fraction}")
    rf = settings.risk_free_rate / settings.periods_per_year
    scores = segment_scores(equity, settings.cash, 0, cut, metric, settings.periods_per_year, rf)
    best = _pick(scores)
    oos_scores = segment_scores(equity, settings.cash, cut, n, metric, settings.periods_per_year, rf)
    valid = oos_scores[~np.isnan(oos_scores)]
    mine = oos_scores[best]
    return {
        "selected_by": metric,
        "params": dict(param_sets[best]),
        "in_sample": _segment_report(equity[best], settings.cash, 0, cut, bars.timestamps, settings),
        "out_of_sample": _segment_report(equity[best], settings.cash, cut, n, bars.timestamps, settings),
        "oos_rank_percentile": (
            float(np.mean(valid <= mine)) if len(valid) and not math.isnan(mine) else None
        ),
    }


def walk_forward(
    bars: Bars,
    param_sets: Sequence[Mapping[str, float]],
    settings: ExecutionSettings,
    equity: np.ndarray,
    *,
    metric: str = "sharpe",
    folds: int = 5,
) -> dict[str, object]:
    """Anchored walk-forward: the bars are cut into ``folds + 1`` equal parts; before fold ``k`` the set
    that is best on all bars so far is chosen and then held for the next part."""
    n = len(bars)
    if folds < 1:
        raise ValueError("folds must be >= 1")
    edges = np.linspace(0, n, folds + 2).astype(np.int64)
    if np.min(np.diff(edges)) < 2:
        raise ValueError(f"{n} bars are too few for {folds} walk-forward folds")
    rf = settings.risk_free_rate / settings.periods_per_year
    reports = []
    growth = 1.0
    for k in range(1, folds + 1):
        is_stop, oos_stop = int(edges[k]), int(edges[k + 1])
        best = _pick(segment_scores(equity, settings.cash, 0, is_stop, metric, settings.periods_per_year, rf))
        seg = _segment_report(equity[best], settings.cash, is_stop, oos_stop, bars.timestamps, settings)
        growth *= 1.0 + float(seg["total_return"])  # type: ignore[arg-type]
        reports.append({"fold": k, "params": dict(param_sets[best]), "out_of_sample": seg})
    oos_bars = n - int(edges[1])
    return {
        "selected_by": metric,
        "folds": reports,
        "oos_total_return": growth - 1.0,
        "oos_cagr": cagr(growth, oos_bars, settings.periods_per_year),
    }


def sweep_statistics(
    bars: Bars,
    strategy: str,
    param_sets: Sequence[Mapping[str, float]],
    settings: ExecutionSettings,
    result: BatchResult,
    *,
    rank_by: str = "sharpe",
    oos_fraction: float = 0.3,
    walk_forward_folds: int = 5,
    pbo_splits: int = 10,
) -> dict[str, object]:
    """DSR, PBO, out-of-sample and walk-forward re-tests of one sweep on one dataset (best effort:
    a statistic that the data cannot support is reported as skipped with the reason). Each block says
    what it selects by: the DSR and PBO judge the best Sharpe ratio; the re-tests select by ``rank_by``
    when it is selectable (``SELECTABLE``), else by Sharpe."""
    metric = rank_by if rank_by in SELECTABLE else "sharpe"
    equity = result.equity
    rf = settings.risk_free_rate / settings.periods_per_year
    out: dict[str, object] = {"strategy": strategy, "trials": len(param_sets)}
    srs = np.concatenate(
        [
            sharpe_per_bar(returns_matrix(equity[a : a + _CHUNK], settings.cash), rf)
            for a in range(0, len(equity), _CHUNK)
        ]
    )
    best = 0 if np.all(np.isnan(srs)) else int(np.nanargmax(srs))

    def dsr() -> dict[str, object]:
        best_returns = returns_matrix(equity[best : best + 1], settings.cash)[0]
        return {"params": dict(param_sets[best]), **deflated_sharpe_ratio(best_returns, srs, rf_per_bar=rf)}

    def pbo() -> dict[str, float | int | None]:
        edges = cscv_edges(equity.shape[1], pbo_splits, equity.shape[0])
        parts = [
            block_moments(returns_matrix(equity[a : a + _CHUNK], settings.cash), edges)
            for a in range(0, len(equity), _CHUNK)
        ]
        sums = np.concatenate([p[0] for p in parts])
        sq = np.concatenate([p[1] for p in parts])
        return cscv(sums, sq, np.diff(edges).astype(np.float64)).as_dict()

    retests: list[tuple[str, str, Callable[[], dict[str, object]]]] = [
        ("deflated_sharpe", "sharpe", dsr),
        ("pbo", "sharpe", pbo),
        (
            "out_of_sample",
            metric,
            lambda: out_of_sample_retest(
                bars, param_sets, settings, equity, metric=metric, oos_fraction=oos_fraction
            ),
        ),
    ]
    if walk_forward_folds > 0:
        retests.append(
            (
                "walk_forward",
                metric,
                lambda: walk_forward(
                    bars, param_sets, settings, equity, metric=metric, folds=walk_forward_folds
                ),
            )
        )
    for name, selected_by, fn in retests:
        try:
            out[name] = {"selected_by": selected_by, **fn()}
        except ValueError as exc:
            out[name] = {"selected_by": selected_by, "skipped": str(exc)}
    return out
