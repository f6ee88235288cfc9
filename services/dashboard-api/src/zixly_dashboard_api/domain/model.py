"""What the dashboard shows: sweeps with their progress, and ranked results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, computed_field


class SweepView(BaseModel):
    sweep_id: str
    name: str
    status: str = Field(
        description="requested, running (planned), then completed (every task reported, at least one "
        "succeeded; failures counted in tasks_failed) or failed (not plannable, or every task failed: "
        "see failure_reason)"
    )
    datasets: list[str] | None
    strategies: list[str] | None
    task_count: int | None
    backtest_count: int | None
    tasks_done: int
    tasks_failed: int
    backtests_done: int
    failure_reason: str | None
    requested_at: datetime | None
    planned_at: datetime | None
    completed_at: datetime | None = Field(
        description="when the last task reported (completed or failed); null while in flight, and for a "
        "failed sweep that had no last task (not plannable, or failure_reason starting 'interrupted:')"
    )
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def progress(self) -> float | None:
        """Share of planned tasks that reported (0…1); null until the sweep is planned."""
        if not self.task_count:
            return None
        return min(1.0, (self.tasks_done + self.tasks_failed) / self.task_count)


class ResultView(BaseModel):
    dataset: str
    strategy: str
    params: dict[str, Any]
    metrics: dict[str, float | int | None]
