"""Engine benchmark: zixly vs vectorbt vs backtesting.py on the 184-combination SMA grid
(fast 5..50 step 5 × slow 20..210 step 10, fast < slow).

    uv run python benchmarks/bench_engine.py            # everything (backtesting.py takes a few minutes)
    uv run python benchmarks/bench_engine.py --quick    # backtesting.py on every 8th combination only

Prints one JSON object per line:
``{"engine", "dataset", "combos", "bars", "seconds", "bar_evals_per_s", "peak_rss_mb", ...}``.
Every measurement runs in a fresh child process of this script, so ``peak_rss_mb`` is that engine's
own peak and nothing leaks between engines. Settings are the pinned ones of the tests: long-only,
fill at the signal bar's close, whole units, 10,000 cash, no fees; each engine computes its full
metric set. ``seconds`` is the median of the warm runs (after one untimed warm-up): ``--repeat`` of them,
and for our engine and vectorbt as many more as make a second in all, except
for the cold-start lines, which time a whole fresh process: interpreter start, imports, data load,
the first sweep and, for ``first_compile``, the numba compilation into an empty cache. Those run in a
fresh environment with the backtester service's dependencies only (``uv sync --no-dev --package
zixly-backtester``), the set a replica's image holds.

This is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
DATASETS = ("GOOG_1d.csv", "EURUSD_1h.csv")
ENGINES = ("zixly", "vectorbt", "backtesting.py")
CASH = 10_000.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def grid() -> list[dict[str, int]]:
    return [{"fast": f, "slow": s} for f in range(5, 51, 5) for s in range(20, 211, 10) if f < s]


def load(dataset: str):  # noqa: ANN201
    import pandas as pd

    df = pd.read_csv(DATA / dataset, parse_dates=["timestamp"], index_col="timestamp")
    return df


def line(**kw: object) -> None:
    print(json.dumps(kw), flush=True)


# ---------------------------------------------------------------------------------------------------
# children: one engine on one dataset


def timed_runs(once: Callable[[], object], repeat: int, min_total_s: float = 1.0) -> list[float]:
    """Seconds of each warm run: at least ``repeat`` runs and at least ``min_total_s`` of them in all,
    so that a run of a few milliseconds is not judged on five samples of a shared machine."""
    times: list[float] = []
    while len(times) < repeat or sum(times) < min_total_s:
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return times


def run_zixly(dataset: str, repeat: int) -> dict[str, object]:
    from zixly_backtester.domain.bars import load_bars
    from zixly_backtester.domain.engine import ExecutionSettings, run_batch

    bars = load_bars(DATA / dataset)
    sets = grid()
    settings = ExecutionSettings(fill="close", units="whole", cash=CASH)
    run_batch(bars, "sma_cross", sets, settings)  # warm-up: loads the compiled kernel
    times = timed_runs(lambda: run_batch(bars, "sma_cross", sets, settings), repeat)
    return {"combos": len(sets), "bars": len(bars), "times": times}


def run_vectorbt(dataset: str, repeat: int) -> dict[str, object]:
    import numpy as np
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import vectorbt as vbt

    df = load(dataset)
    close = df["Close"].astype(float)
    sets = grid()
    fast_w = [p["fast"] for p in sets]
    slow_w = [p["slow"] for p in sets]
    freq = "1D" if dataset.endswith("_1d.csv") else "1h"

    def once() -> None:
        fast = vbt.MA.run(close, window=fast_w, short_name="fast").ma.to_numpy()
        slow = vbt.MA.run(close, window=slow_w, short_name="slow").ma.to_numpy()
        cols = pd.RangeIndex(len(sets))
        f = pd.DataFrame(fast, index=close.index, columns=cols)
        s = pd.DataFrame(slow, index=close.index, columns=cols)
        entries = f.vbt.crossed_above(s)
        exits = f.vbt.crossed_below(s)
        pf = vbt.Portfolio.from_signals(
            close, entries, exits, init_cash=CASH, size=np.inf, size_granularity=1.0, fees=0.0, freq=freq
        )
        # the full metric set, as our engine computes it
        pf.total_return()
        pf.annualized_return()
        pf.annualized_volatility()
        pf.sharpe_ratio()
        pf.sortino_ratio()
        pf.calmar_ratio()
        pf.max_drawdown()
        pf.drawdowns.max_duration()
        pf.final_value()
        trades = pf.trades
        trades.closed.count()
        trades.open.count()
        trades.closed.win_rate()
        trades.closed.profit_factor()
        trades.closed.expectancy()
        trades.closed.sqn()
        trades.closed.returns.mean()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        once()  # warm-up: numba compilation of vectorbt's kernels
        times = timed_runs(once, repeat)
    return {"combos": len(sets), "bars": len(close), "times": times}


def run_backtesting_py(dataset: str, repeat: int, quick: bool) -> dict[str, object]:
    import numpy as np
    import talib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from backtesting import Backtest, Strategy
        from backtesting.lib import crossover

    class SmaCross(Strategy):
        fast = 10
        slow = 20

        def init(self) -> None:
            close = np.asarray(self.data.Close, dtype=np.float64)
            self.a = self.I(talib.SMA, close, self.fast)
            self.b = self.I(talib.SMA, close, self.slow)

        def next(self) -> None:
            if crossover(self.a, self.b):
                if not self.position:
                    self.buy()
            elif crossover(self.b, self.a):
                self.position.close()

    df = load(dataset)
    sets = grid()[::8] if quick else grid()
    bt = Backtest(df, SmaCross, cash=CASH, commission=0.0, trade_on_close=True)
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeat):
            t0 = time.perf_counter()
            for p in sets:
                bt.run(**p)  # computes its full statistics every run
            times.append(time.perf_counter() - t0)
    return {"combos": len(sets), "bars": len(df), "times": times}


def run_cold(dataset: str) -> dict[str, object]:
    """The first sweep of a fresh process, with whatever numba cache NUMBA_CACHE_DIR holds."""
    t0 = time.perf_counter()
    from zixly_backtester.domain.bars import load_bars
    from zixly_backtester.domain.engine import ExecutionSettings, kernels, run_batch

    t_import = time.perf_counter()
    kernels()
    t_kernel = time.perf_counter()
    bars = load_bars(DATA / dataset)
    sets = grid()
    run_batch(bars, "sma_cross", sets, ExecutionSettings(fill="close", units="whole", cash=CASH))
    t_end = time.perf_counter()
    return {
        "combos": len(sets),
        "bars": len(bars),
        "import_s": round(t_import - t0, 4),
        "kernel_load_s": round(t_kernel - t_import, 4),
        "first_sweep_s": round(t_end - t_kernel, 4),
    }


def run_memory() -> dict[str, object]:
    """10,000 parameter sets × 5,000 bars in one batch (equity curves of all sets kept: 400 MB)."""
    from zixly_backtester.domain.bars import load_bars
    from zixly_backtester.domain.engine import ExecutionSettings, run_batch

    bars = load_bars(DATA / "EURUSD_1h.csv")
    sets = [{"fast": f, "slow": s} for f in range(1, 101) for s in range(2, 102)]
    settings = ExecutionSettings(fill="close", units="whole", cash=CASH, periods_per_year=6_200)
    run_batch(bars, "sma_cross", sets[:10], settings)  # load the kernel outside the timing
    t0 = time.perf_counter()
    result = run_batch(bars, "sma_cross", sets, settings)
    seconds = time.perf_counter() - t0
    assert result.equity.shape == (len(sets), len(bars))
    return {"combos": len(sets), "bars": len(bars), "times": [seconds]}


def child(args: argparse.Namespace) -> None:
    kind, dataset = args.child
    if kind == "zixly":
        out = run_zixly(dataset, args.repeat)
    elif kind == "vectorbt":
        out = run_vectorbt(dataset, args.repeat)
    elif kind == "backtesting.py":
        out = run_backtesting_py(dataset, 1, args.quick)
    elif kind == "cold":
        out = run_cold(dataset)
    elif kind == "memory":
        out = run_memory()
    else:
        raise SystemExit(f"unknown child {kind}")
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(out), flush=True)


# ---------------------------------------------------------------------------------------------------
# parent


def spawn(
    kind: str,
    dataset: str,
    args: argparse.Namespace,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
) -> dict:
    cmd = [
        python,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        dataset,
        "--repeat",
        str(args.repeat),
    ]
    if args.quick:
        cmd.append("--quick")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {
            "error": proc.stderr.strip().splitlines()[-1]
            if proc.stderr.strip()
            else f"exit {proc.returncode}"
        }
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = wall
    return out


def service_python(env_dir: Path) -> str:
    """The interpreter of a fresh environment holding what the backtester service installs, no more."""
    uv = os.environ.get("UV") or shutil.which("uv")
    cmd = [uv] if uv else [sys.executable, "-m", "uv"]
    subprocess.run(
        [*cmd, "sync", "--frozen", "--no-dev", "--package", "zixly-backtester", "--quiet"],
        cwd=ROOT,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(env_dir)},
        check=True,
    )
    return str(env_dir / "bin" / "python")


def report(engine: str, dataset: str, out: dict, **extra: object) -> dict:
    if "error" in out:
        line(engine=engine, dataset=dataset, error=out["error"])
        return out
    times = out.get("times") or [out["process_s"]]
    seconds = statistics.median(times)
    evals = out["combos"] * out["bars"]
    row = {
        "engine": engine,
        "dataset": dataset,
        "combos": out["combos"],
        "bars": out["bars"],
        "seconds": round(seconds, 6),
        "bar_evals_per_s": round(evals / seconds),
        "peak_rss_mb": out["peak_rss_mb"],
        **extra,
    }
    if len(times) > 1:
        row["seconds_min"] = round(min(times), 6)
        row["runs"] = len(times)
    line(**row)
    return row


def parent(args: argparse.Namespace) -> None:
    import numba

    line(
        engine="environment",
        python=sys.version.split()[0],
        numba=numba.__version__,
        cpu_count=os.cpu_count(),
        threads="single-threaded kernel: bar_evals_per_s is per core",
    )
    ours: dict[str, float] = {}
    for dataset in args.datasets:
        for engine in args.engines:
            out = spawn(engine, dataset, args)
            extra: dict[str, object] = {}
            if engine != "zixly" and "error" not in out and dataset in ours:
                theirs = out["combos"] * out["bars"] / statistics.median(out["times"])
                extra["zixly_speedup"] = round(ours[dataset] / theirs, 1)
            row = report(engine, dataset, out, **extra)
            if engine == "zixly" and "bar_evals_per_s" in row:
                ours[dataset] = float(row["bar_evals_per_s"])  # type: ignore[arg-type]
    # cold start: a fresh process with an empty numba cache (first-ever compile), then with a warm one,
    # in the backtester service's own environment (its dependencies only, as its image holds them: the
    # development environment also holds scipy, for vectorbt, and numba imports scipy when present).
    # Python may write bytecode there, as a built image has it (with PYTHONDONTWRITEBYTECODE every
    # process would recompile numba's own sources, about a second that no deployment pays)
    with tempfile.TemporaryDirectory(prefix="zixly-bench-cold-") as tmp:
        python = service_python(Path(tmp) / "env")
        env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / "numba")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for mode in ("first_compile", "warm_cache"):
            out = spawn("cold", DATASETS[0], args, env=env, python=python)
            if "error" in out:
                line(engine="zixly", mode=f"cold_start_{mode}", error=out["error"])
                continue
            line(
                engine="zixly",
                dataset=DATASETS[0],
                mode=f"cold_start_{mode}",
                combos=out["combos"],
                bars=out["bars"],
                seconds=round(out["process_s"], 3),
                bar_evals_per_s=round(out["combos"] * out["bars"] / out["process_s"]),
                peak_rss_mb=out["peak_rss_mb"],
                import_s=out["import_s"],
                kernel_load_s=out["kernel_load_s"],
                first_sweep_s=out["first_sweep_s"],
            )
    if not args.skip_memory:
        out = spawn("memory", "EURUSD_1h.csv", args)
        report("zixly", "EURUSD_1h.csv", out, mode="memory_10000x5000", limit_mb=1024)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="backtesting.py on every 8th combination only")
    p.add_argument("--repeat", type=int, default=5, help="timed warm runs per engine (median reported)")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    p.add_argument("--skip-memory", action="store_true", help="skip the 10,000 × 5,000 memory check")
    p.add_argument("--child", nargs=2, metavar=("KIND", "DATASET"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
