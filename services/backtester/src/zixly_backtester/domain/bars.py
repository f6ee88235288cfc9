"""OHLCV bars: loading, validation and the in-memory form the engine reads.

A dataset is a table with a ``timestamp`` column and ``Open, High, Low, Close, Volume`` (the case of
the column names does not matter). Naive timestamps are taken as written; timestamps with a UTC
offset or a zone become the UTC instants they name. Timestamps must be strictly increasing; prices
must be finite unless the caller explicitly allows NaN bars (a NaN bar is one where the market did
not trade: no order fills on it and valuation forward-fills the last price).
"""

from __future__ import annotations

import io
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
MAX_BARS = 5_000_000
PARQUET_MAGIC = b"PAR1"
PARQUET_SUFFIXES = (".parquet", ".pq")


class BarsError(ValueError):
    """The data cannot be used as bars; the message says why."""


@dataclass(frozen=True, eq=False)
class Bars:
    """Bars as aligned 1-D arrays; ``timestamps`` are ``datetime64[ns]``, the rest ``float64``."""

    timestamps: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.timestamps)
        for name in PRICE_COLUMNS:
            arr = getattr(self, name)
            if arr.ndim != 1 or len(arr) != n:
                raise BarsError(f"column {name!r} has {len(arr)} values for {n} timestamps")

    def __len__(self) -> int:
        return len(self.timestamps)

    @property
    def n(self) -> int:
        return len(self.timestamps)

    @classmethod
    def from_arrays(
        cls,
        *,
        close: np.ndarray | list[float],
        open: np.ndarray | list[float] | None = None,  # noqa: A002 - the column's name
        high: np.ndarray | list[float] | None = None,
        low: np.ndarray | list[float] | None = None,
        volume: np.ndarray | list[float] | None = None,
        timestamps: np.ndarray | list[object] | None = None,
        allow_nan: bool = False,
    ) -> Bars:
        """Bars from plain arrays (missing O/H/L default to the close, volume to 0, time to daily)."""
        c = np.asarray(close, dtype=np.float64)
        o = c if open is None else np.asarray(open, dtype=np.float64)
        h = np.maximum(o, c) if high is None else np.asarray(high, dtype=np.float64)
        lo = np.minimum(o, c) if low is None else np.asarray(low, dtype=np.float64)
        v = np.zeros_like(c) if volume is None else np.asarray(volume, dtype=np.float64)
        if timestamps is None:
            ts = np.datetime64("2000-01-03", "ns") + np.arange(len(c)) * np.timedelta64(1, "D")
        else:
            ts = np.asarray(timestamps).astype("datetime64[ns]")
        return _validated(ts, o, h, lo, c, v, allow_nan=allow_nan)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, allow_nan: bool = False) -> Bars:
        """Bars from a DataFrame with a timestamp column (or a DatetimeIndex) and OHLCV columns."""
        import pandas as pd

        if len(df) == 0:
            raise BarsError("the dataset has no rows")
        lower = {str(c).strip().lower(): c for c in df.columns}
        if "timestamp" in lower:
            raw_ts = df[lower["timestamp"]]
        elif "date" in lower:
            raw_ts = df[lower["date"]]
        elif isinstance(df.index, pd.DatetimeIndex):
            raw_ts = pd.Series(df.index)
        else:
            raise BarsError("missing column 'timestamp' (expected timestamp,Open,High,Low,Close,Volume)")
        missing = [c for c in PRICE_COLUMNS if c not in lower]
        if missing:
            names = ", ".join(m.capitalize() for m in missing)
            raise BarsError(f"missing column(s): {names} (expected timestamp,Open,High,Low,Close,Volume)")
        if pd.api.types.is_numeric_dtype(raw_ts) or pd.api.types.is_bool_dtype(raw_ts):
            raise BarsError(
                "timestamps must be dates or date-times, not numbers (convert epoch values first)"
            )
        ts = _parse_timestamps(raw_ts)
        cols = []
        for name in PRICE_COLUMNS:
            try:
                cols.append(pd.to_numeric(df[lower[name]], errors="raise").to_numpy(dtype=np.float64))
            except (ValueError, TypeError):
                raise BarsError(f"column {name.capitalize()!r} has values that are not numbers") from None
        return _validated(ts, *cols, allow_nan=allow_nan)


def _validated(
    ts: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    *,
    allow_nan: bool,
) -> Bars:
    n = len(ts)
    if n == 0:
        raise BarsError("the dataset has no rows")
    if n > MAX_BARS:
        raise BarsError(f"the dataset has {n} rows; the limit is {MAX_BARS}")
    if np.isnat(ts).any():
        raise BarsError(f"missing timestamp at row {int(np.argmax(np.isnat(ts))) + 1}")
    steps = np.diff(ts.astype(np.int64))
    if (steps == 0).any():
        i = int(np.argmax(steps == 0)) + 1
        raise BarsError(f"duplicate timestamp {ts[i]} at row {i + 1}")
    if (steps < 0).any():
        i = int(np.argmax(steps < 0)) + 1
        raise BarsError(f"timestamps are not sorted: {ts[i]} at row {i + 1} comes after {ts[i - 1]}")
    arrays = {"open": o, "high": h, "low": lo, "close": c, "volume": v}
    for name, arr in arrays.items():
        if len(arr) != n:
            raise BarsError(f"column {name!r} has {len(arr)} values for {n} timestamps")
        if np.isinf(arr).any():
            raise BarsError(
                f"column {name.capitalize()!r} has an infinite value at row {_first(np.isinf(arr))}"
            )
    prices = np.vstack([o, h, lo, c])
    nan_rows = np.isnan(prices).any(axis=0)
    if nan_rows.any():
        if not allow_nan:
            col = PRICE_COLUMNS[int(np.argmax(np.isnan(prices[:, _first(nan_rows) - 1])))]
            raise BarsError(f"column {col.capitalize()!r} has a NaN at row {_first(nan_rows)}")
        # a bar is either complete or entirely missing
        o, h, lo, c = (np.where(nan_rows, np.nan, a) for a in (o, h, lo, c))
    if np.isnan(v).any():
        if not allow_nan:
            raise BarsError(f"column 'Volume' has a NaN at row {_first(np.isnan(v))}")
        v = np.where(np.isnan(v), 0.0, v)
    if (prices[:, ~nan_rows] <= 0).any():
        raise BarsError("prices must be positive")
    with np.errstate(invalid="ignore"):
        inverted = (h < np.maximum(np.maximum(o, c), lo)) | (lo > np.minimum(o, c))
    if inverted.any():
        row = _first(inverted)
        raise BarsError(
            f"row {row}: High {h[row - 1]} and Low {lo[row - 1]} "
            f"do not bound Open {o[row - 1]} and Close {c[row - 1]}"
        )
    return Bars(
        timestamps=ts,
        open=np.ascontiguousarray(o),
        high=np.ascontiguousarray(h),
        low=np.ascontiguousarray(lo),
        close=np.ascontiguousarray(c),
        volume=np.ascontiguousarray(v),
    )


def _parse_timestamps(raw: pd.Series) -> np.ndarray:
    """Naive timestamps as written; timestamps with a UTC offset or zone as the UTC instants they name
    (offsets may differ from row to row, as they do across daylight-saving changes)."""
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' per-element fallback warning; a failure raises below
        try:
            try:
                ts_idx = pd.DatetimeIndex(pd.to_datetime(raw))
            except ValueError as exc:
                if "Mixed timezones" not in str(exc):
                    raise
                ts_idx = pd.DatetimeIndex(pd.to_datetime(raw, utc=True))
        except (ValueError, TypeError) as exc:
            raise BarsError(f"timestamps cannot be parsed: {_first_sentence(exc)}") from None
    try:
        ts_idx = ts_idx.as_unit("ns")
    except (ValueError, OverflowError):
        raise BarsError("timestamps must lie between 1677-09-22 and 2262-04-11") from None
    if ts_idx.tz is not None:
        ts_idx = ts_idx.tz_convert("UTC").tz_localize(None)
    return ts_idx.to_numpy(dtype="datetime64[ns]")


def _first_sentence(exc: Exception) -> str:
    """The cause in a parser's message, without its advice on calling the parser."""
    text = str(exc).split("\n")[0].split(". You might want to try")[0].strip()
    return text.rstrip(":;, ") or type(exc).__name__


def _first(mask: np.ndarray) -> int:
    """1-based data row of the first True."""
    return int(np.argmax(mask)) + 1


def load_bars(
    source: str | Path | bytes,
    fmt: Literal["csv", "parquet"] | None = None,
    *,
    allow_nan: bool = False,
) -> Bars:
    """Load bars from a CSV or Parquet file path, or from the file's bytes.

    ``fmt`` defaults to Parquet for content that starts with Parquet's magic bytes or a
    ``.parquet``/``.pq`` name (any case), else CSV; a ``fmt`` that contradicts the content is an error.
    """
    import pandas as pd

    if fmt not in (None, "csv", "parquet"):
        raise BarsError(f"unknown format {fmt!r}; use csv or parquet")
    head = source[: len(PARQUET_MAGIC)] if isinstance(source, bytes) else _file_head(Path(source))
    is_parquet = head == PARQUET_MAGIC
    if fmt == "csv" and is_parquet:
        raise BarsError("this is a Parquet file (it starts with PAR1), not CSV")
    if fmt == "parquet" and not is_parquet:
        raise BarsError("this is not a Parquet file (it does not start with PAR1)")
    if fmt is None:
        named_parquet = not isinstance(source, bytes) and Path(source).suffix.lower() in PARQUET_SUFFIXES
        fmt = "parquet" if is_parquet or named_parquet else "csv"
    handle: object = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas' per-column dtype and parsing notes
            df = pd.read_csv(handle) if fmt == "csv" else pd.read_parquet(handle)  # type: ignore[call-overload,arg-type]
    except pd.errors.EmptyDataError:
        raise BarsError("the file is empty") from None
    except UnicodeDecodeError:
        raise BarsError("not UTF-8 text, so not CSV (nor Parquet: it does not start with PAR1)") from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise BarsError(f"cannot read the {fmt} data: {_first_sentence(exc)}") from None
    if isinstance(df.index, pd.DatetimeIndex) and "timestamp" not in {str(c).lower() for c in df.columns}:
        df = df.reset_index(names="timestamp")
    return Bars.from_frame(df, allow_nan=allow_nan)


def _file_head(path: Path) -> bytes:
    """The first bytes of a regular file; BarsError for a missing path or one that is not a file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise BarsError("no such file") from None
    except OSError as exc:
        raise BarsError(f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(mode):
        raise BarsError(f"not a regular file ({_kind(mode)})")
    try:
        with path.open("rb") as f:
            return f.read(len(PARQUET_MAGIC))
    except OSError as exc:
        raise BarsError(f"cannot be read ({exc.strerror or type(exc).__name__})") from None


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    return "a socket" if stat.S_ISSOCK(mode) else "not a file"
