"""The tie rule on real data: TA-Lib's rounding on flat runs must not create crosses."""

from __future__ import annotations

from pathlib import Path

import pytest

from zixly_backtester.domain.bars import load_bars
from zixly_backtester.domain.engine import ExecutionSettings, run_batch

DATA = Path(__file__).resolve().parents[4] / "data"


def test_msft_flat_runs_make_no_crosses_out_of_rounding_noise():
    """MSFT has runs of equal closes (e.g. five of 0.08389 around 1986-05-05) where TA-Lib's SMA(2) and
    SMA(5) differ by ~1e-17. Computed with exact integer arithmetic on the closes (in 1e-5 units), the
    long-only 2/5 crossover with close fills and whole units makes 867 closed trades and +870.5839660 %;
    counting the rounding noise as crosses would give 877 trades and +951.73 %."""
    bars = load_bars(DATA / "MSFT_1d.csv", "csv")
    settings = ExecutionSettings(fill="close", units="whole", periods_per_year=252)
    metrics = run_batch(bars, "sma_cross", [{"fast": 2, "slow": 5}], settings).metrics[0]
    assert metrics["closed_trades"] == 867
    assert metrics["total_return"] == pytest.approx(8.70583966, abs=1e-8)


def test_huge_whole_unit_cash_sizes_in_bounded_time():
    """Cash/price above 2**52 used to loop forever looking for one more whole unit."""
    bars = load_bars(DATA / "GOOG_1d.csv", "csv")
    settings = ExecutionSettings(cash=1e15, fill="close", units="whole")
    metrics = run_batch(bars, "buy_and_hold", [{}], settings).metrics[0]
    assert metrics["closed_trades"] + metrics["open_trades"] == 1
    # 2e13 whole units: the cash left over is below one share, so the return is the price ratio's.
    assert metrics["total_return"] == pytest.approx(bars.close[-1] / bars.close[0] - 1, abs=1e-9)


@pytest.mark.parametrize(
    ("first_stamp", "message"),
    [
        ("1092873600", "not numbers"),
        ("3000-01-01", "between 1677-09-22 and 2262-04-11"),
    ],
)
def test_timestamps_that_would_be_misread_are_refused(tmp_path, first_stamp, message):
    from zixly_backtester.domain.bars import BarsError

    rows = [f"{first_stamp},10,11,9,10.5,100"] if first_stamp.isdigit() else ["2999-12-31,10,11,9,10.5,100"]
    if first_stamp.isdigit():
        rows.append("1092960000,10,11,9,10.5,100")
    else:
        rows.append(f"{first_stamp},10,11,9,10.5,100")
    path = tmp_path / "x.csv"
    path.write_text("timestamp,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")
    with pytest.raises(BarsError, match=message):
        load_bars(path, "csv")
