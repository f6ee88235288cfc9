"""Read-only queries over the read models."""

from __future__ import annotations

from typing import Protocol

from zixly_dashboard_api.domain.model import ResultView, SweepView


class ReadModels(Protocol):
    async def sweeps(self, limit: int, offset: int) -> list[SweepView]: ...

    async def sweep(self, sweep_id: str) -> SweepView | None: ...

    async def results(
        self,
        sweep_id: str,
        *,
        order_by: str,
        descending: bool,
        limit: int,
        offset: int,
        dataset: str | None,
        strategy: str | None,
    ) -> list[ResultView]: ...

    async def ping(self) -> bool: ...
