"""Equity curves of one task as one Parquet file: long format (param_index, timestamp, equity)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zixly_backtester.service_layer.ports import ObjectStore


def equity_table(
    timestamps: np.ndarray, param_sets: Sequence[Mapping[str, float]], equity: np.ndarray
) -> pa.Table:
    n_sets, n_bars = equity.shape
    table = pa.table(
        {
            "param_index": pa.array(np.repeat(np.arange(n_sets, dtype=np.int32), n_bars)),
            "timestamp": pa.array(np.tile(timestamps.astype("datetime64[ns]"), n_sets)),
            "equity": pa.array(equity.reshape(-1)),
        }
    )
    return table.replace_schema_metadata({"zixly.param_sets": json.dumps([dict(p) for p in param_sets])})


def encode_parquet(table: pa.Table) -> bytes:
    """zstd; dictionaries only for the repeating columns. Equity values hardly repeat: building a
    dictionary for them first (the default) took half the task's time and made the file bigger."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", use_dictionary=["param_index", "timestamp"])
    return sink.getvalue()


class ParquetArtifactStore:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    async def save_equity(
        self,
        key: str,
        timestamps: np.ndarray,
        param_sets: Sequence[Mapping[str, float]],
        equity: np.ndarray,
    ) -> str:
        data = await asyncio.to_thread(lambda: encode_parquet(equity_table(timestamps, param_sets, equity)))
        return await self._store.put(key, data)
