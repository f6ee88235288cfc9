"""Read-model rules: when a sweep is complete, and which result is the best. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SweepStatus(StrEnum):
    REQUESTED = "requested"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


FINAL = frozenset({SweepStatus.COMPLETED, SweepStatus.FAILED})


@dataclass(frozen=True)
class SweepProgress:
    sweep_id: str
    name: str
    status: SweepStatus
    task_count: int | None
    backtest_count: int | None
    tasks_done: int
    tasks_failed: int

    @property
    def is_complete(self) -> bool:
        """Every planned task has reported, successfully or not, and nobody announced it yet."""
        return (
            self.status not in FINAL
            and self.task_count is not None
            and self.tasks_done + self.tasks_failed >= self.task_count
        )

    @property
    def every_task_failed(self) -> bool:
        """No task produced a result: the sweep failed (otherwise it completed, failures counted)."""
        return self.tasks_done == 0 and self.tasks_failed > 0


def every_task_failed_reason(tasks_failed: int, first_error: str | None) -> str:
    reason = f"every task failed ({tasks_failed} of {tasks_failed})"
    return f"{reason}; the first: {first_error}" if first_error else reason
