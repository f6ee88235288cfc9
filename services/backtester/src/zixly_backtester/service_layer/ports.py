"""What the backtester's use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from zixly_backtester.domain.bars import Bars
from zixly_contracts.envelope import Envelope


class ObjectStore(Protocol):
    async def get(self, key: str) -> bytes:
        """Raise :class:`KeyError` if there is no object at ``key``."""

    async def put(self, key: str, data: bytes) -> str:
        """Store ``data`` at ``key`` (overwriting) and return its URI."""


class DatasetSource(Protocol):
    async def load(self, symbol: str) -> Bars:
        """Raise :class:`~zixly_backtester.domain.errors.DatasetNotFound` if there is no such dataset."""


class ArtifactStore(Protocol):
    async def save_equity(
        self,
        key: str,
        timestamps: np.ndarray,
        param_sets: Sequence[Mapping[str, float]],
        equity: np.ndarray,
    ) -> str:
        """Write the equity curves of one task (overwriting) and return their URI."""


class EventPublisher(Protocol):
    async def publish(self, topic: str, event: Envelope[Any], key: str, *, slot: int | None = None) -> None:
        """Return only once the broker acknowledged the event. ``slot`` places it on partition
        ``slot mod partitions`` of the topic; without it the key's hash picks the partition."""
