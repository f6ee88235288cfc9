"""Loading and validating bars: CSV and Parquet, paths and bytes, and clear errors."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zixly_backtester.domain.bars import Bars, BarsError, load_bars


def test_goog_loads_as_documented(goog: Bars) -> None:
    assert len(goog) == 2148
    assert goog.timestamps.dtype == np.dtype("datetime64[ns]")
    assert str(goog.timestamps[0])[:10] == "2004-08-19"
    assert str(goog.timestamps[-1])[:10] == "2013-03-01"
    for arr in (goog.open, goog.high, goog.low, goog.close, goog.volume):
        assert arr.dtype == np.float64
        assert arr.flags.c_contiguous
    assert goog.close[0] == 100.34


def test_csv_and_parquet_bytes_give_the_same_bars(data_dir: Path) -> None:
    raw = (data_dir / "EURUSD_1h.csv").read_bytes()
    from_csv = load_bars(raw, "csv")
    buf = io.BytesIO()
    pd.read_csv(io.BytesIO(raw)).to_parquet(buf)
    from_parquet = load_bars(buf.getvalue(), "parquet")
    assert len(from_csv) == 5000
    for name in ("timestamps", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(from_csv, name), getattr(from_parquet, name))


def test_parquet_path_by_extension(tmp_path: Path, data_dir: Path) -> None:
    df = pd.read_csv(data_dir / "BTCUSD_1M.csv")
    df.to_parquet(tmp_path / "btc.parquet")
    assert len(load_bars(tmp_path / "btc.parquet")) == 156


def test_frame_with_datetime_index_lower_case_columns_and_time_zone() -> None:
    idx = pd.date_range("2024-01-01 09:30", periods=3, freq="15min", tz="America/New_York")
    df = pd.DataFrame(
        {"open": [1.0, 2, 3], "high": [1.0, 2, 3], "low": [1.0, 2, 3], "close": [1.0, 2, 3], "volume": 0},
        index=idx,
    )
    bars = Bars.from_frame(df)
    assert str(bars.timestamps[0]) == "2024-01-01T14:30:00.000000000"  # as UTC, naive


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            pd.DataFrame({"timestamp": ["2020-01-01"], "Open": [1.0]}),
            "missing column(s): High, Low, Close, Volume",
        ),
        (
            pd.DataFrame({"Open": [1.0], "High": [1.0], "Low": [1.0], "Close": [1.0], "Volume": [1.0]}),
            "timestamp",
        ),
        (
            pd.DataFrame(
                {
                    "timestamp": ["2020-01-01", "bad"],
                    **{c: [1.0, 1.0] for c in ("Open", "High", "Low", "Close", "Volume")},
                }
            ),
            "cannot be parsed",
        ),
        (
            pd.DataFrame(
                {
                    "timestamp": ["2020-01-01"],
                    **{c: ["x"] for c in ("Open", "High", "Low", "Close", "Volume")},
                }
            ),
            "not numbers",
        ),
        (
            pd.DataFrame(
                {
                    "timestamp": ["2020-01-01"],
                    **{c: [math.inf] for c in ("Open", "High", "Low", "Close", "Volume")},
                }
            ),
            "infinite",
        ),
        (
            pd.DataFrame(
                {
                    "timestamp": ["2020-01-01"],
                    **{c: [-1.0] for c in ("Open", "High", "Low", "Close", "Volume")},
                }
            ),
            "positive",
        ),
    ],
)
def test_invalid_frames(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(BarsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Bars.from_frame(frame)


def test_nan_bars_only_when_allowed() -> None:
    with pytest.raises(BarsError, match="has a NaN at row 2"):
        Bars.from_arrays(close=[1.0, math.nan, 2.0])
    bars = Bars.from_arrays(close=[1.0, math.nan, 2.0], allow_nan=True)
    assert math.isnan(bars.open[1])  # the whole bar is missing


def test_unreadable_inputs() -> None:
    with pytest.raises(BarsError, match="empty"):
        load_bars(b"", "csv")
    with pytest.raises(BarsError, match=r"^this is not a Parquet file \(it does not start with PAR1\)$"):
        load_bars(b"not parquet", "parquet")
    with pytest.raises(BarsError, match=r"^not UTF-8 text, so not CSV \(nor Parquet"):
        load_bars(b"\xc0\xff\x00timestamp", "csv")
    with pytest.raises(BarsError, match="unknown format"):
        load_bars(b"x", "xlsx")  # type: ignore[arg-type]
    assert issubclass(BarsError, ValueError)


def test_a_high_below_the_close_is_refused_with_its_row():
    import pandas as pd
    import pytest

    from zixly_backtester.domain.bars import Bars, BarsError

    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"]),
            "Open": [10.0, 11.0, 12.0],
            "High": [11.0, 10.5, 13.0],
            "Low": [9.0, 10.0, 11.0],
            "Close": [10.5, 11.0, 12.5],
            "Volume": [1.0, 1.0, 1.0],
        }
    )
    with pytest.raises(
        BarsError, match="row 2: High 10.5 and Low 10.0 do not bound Open 11.0 and Close 11.0"
    ):
        Bars.from_frame(frame)


def test_offsets_that_change_with_daylight_saving_are_utc_instants_in_csv_as_in_parquet(
    tmp_path: Path,
) -> None:
    csv = (
        "timestamp,Open,High,Low,Close,Volume\n"
        "2004-08-19 16:00:00-04:00,1,1,1,1,0\n"
        "2004-11-19 16:00:00-05:00,2,2,2,2,0\n"
    )
    from_csv = load_bars(csv.encode(), "csv")
    assert [str(t) for t in from_csv.timestamps] == [
        "2004-08-19T20:00:00.000000000",
        "2004-11-19T21:00:00.000000000",
    ]
    pd.read_csv(io.StringIO(csv), parse_dates=["timestamp"]).to_parquet(tmp_path / "dst.parquet")
    assert np.array_equal(load_bars(tmp_path / "dst.parquet").timestamps, from_csv.timestamps)


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (
            "19/08/2004",
            'timestamps cannot be parsed: time data "19/08/2004" doesn\'t match format "%Y-%m-%d"',
        ),
        (
            "2004-13-45",
            'timestamps cannot be parsed: time data "2004-13-45" doesn\'t match format "%Y-%m-%d"',
        ),
    ],
)
def test_unparsable_timestamps_give_one_clean_line(second: str, message: str) -> None:
    csv = f"timestamp,Open,High,Low,Close,Volume\n2004-08-18,1,1,1,1,0\n{second},1,1,1,1,0\n"
    with pytest.raises(BarsError) as info:
        load_bars(csv.encode(), "csv")
    assert str(info.value) == message


def test_parquet_is_recognised_by_its_content_and_by_any_case_of_its_suffix(
    tmp_path: Path, data_dir: Path
) -> None:
    df = pd.read_csv(data_dir / "BTCUSD_1M.csv")
    for name in ("btc.csv", "btc.PARQUET", "btc"):
        df.to_parquet(tmp_path / name)
        assert len(load_bars(tmp_path / name)) == 156
    assert len(load_bars((tmp_path / "btc").read_bytes())) == 156


def test_a_path_that_is_not_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(BarsError, match=r"^not a regular file \(a directory\)$"):
        load_bars(tmp_path)
    with pytest.raises(BarsError, match="^no such file$"):
        load_bars(tmp_path / "missing.csv")
