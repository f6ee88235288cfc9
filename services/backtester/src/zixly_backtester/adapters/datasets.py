"""Market data from the object store: ``datasets/<symbol>.csv`` or ``.parquet``, parsed once per process."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from zixly_backtester.domain.bars import Bars, load_bars
from zixly_backtester.domain.errors import DatasetNotFound
from zixly_backtester.service_layer.ports import ObjectStore

FORMATS = ("parquet", "csv")


def dataset_key(symbol: str, fmt: str) -> str:
    return f"datasets/{symbol}.{fmt}"


class StoreDatasetSource:
    def __init__(self, store: ObjectStore, *, cache_size: int = 16) -> None:
        self._store = store
        self._cache: OrderedDict[str, Bars] = OrderedDict()
        self._cache_size = cache_size
        self._lock = asyncio.Lock()

    async def load(self, symbol: str) -> Bars:
        async with self._lock:
            if symbol in self._cache:
                self._cache.move_to_end(symbol)
                return self._cache[symbol]
            bars = await self._fetch(symbol)
            self._cache[symbol] = bars
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return bars

    async def _fetch(self, symbol: str) -> Bars:
        for fmt in FORMATS:
            try:
                raw = await self._store.get(dataset_key(symbol, fmt))
            except KeyError:
                continue
            return await asyncio.to_thread(load_bars, raw, fmt)
        raise DatasetNotFound(symbol)
