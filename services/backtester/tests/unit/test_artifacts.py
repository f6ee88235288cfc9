"""The equity-curve Parquet file: long format, every value exact, the parameter sets in its metadata."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow.parquet as pq

from zixly_backtester.adapters.artifacts import encode_parquet, equity_table
from zixly_backtester.domain.bars import Bars
from zixly_backtester.domain.engine import ExecutionSettings, run_batch


def test_equity_curves_round_trip_exactly(goog: Bars) -> None:
    param_sets = [{"fast": 10, "slow": 20}, {"fast": 20, "slow": 50}, {"fast": 50, "slow": 200}]
    equity = run_batch(goog, "sma_cross", param_sets, ExecutionSettings(fill="close")).equity

    table = pq.read_table(io.BytesIO(encode_parquet(equity_table(goog.timestamps, param_sets, equity))))

    n_bars = len(goog.close)
    assert table.column_names == ["param_index", "timestamp", "equity"]
    assert table.num_rows == 3 * n_bars
    assert np.array_equal(table["equity"].to_numpy().reshape(3, n_bars), equity)
    assert np.array_equal(table["param_index"].to_numpy(), np.repeat(np.arange(3), n_bars))
    timestamps = table["timestamp"].to_numpy()[:n_bars]
    assert np.array_equal(timestamps, goog.timestamps.astype("datetime64[ns]"))
    assert json.loads(table.schema.metadata[b"zixly.param_sets"]) == param_sets
    assert round(float(equity[0, -1]) / 10_000 - 1, 6) == 6.277157  # 10/20 fractional: +627.7157 %
