"""Events and commands, the messages the services exchange. Events are past tense, commands imperative.

Each class is the *current* version of its message; older versions are upcast on read
(``zixly_contracts.envelope.UPCASTERS``) and their JSON Schemas are kept in ``libs/contracts/schemas``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from zixly_contracts.metrics import Metrics
from zixly_contracts.sweep_spec import DatasetRef, Execution, SweepSpec

ParamSet = dict[str, int | float]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WebhookReceived(Message):
    """Every accepted webhook, verbatim: the audit log and the replay source."""

    webhook_id: str
    source: str
    received_at: datetime
    body: str
    headers: dict[str, str] = Field(default_factory=dict)


class SweepRequested(Message):
    sweep_id: str
    source: str
    webhook_id: str
    spec: SweepSpec


class SweepPlanned(Message):
    sweep_id: str
    name: str
    task_count: int
    backtest_count: int
    datasets: list[str]
    strategies: list[str]


class RunBacktestBatch(Message):
    """One task: one dataset × one strategy × a batch of parameter sets."""

    task_id: str
    sweep_id: str
    dataset: DatasetRef
    strategy: str
    batch_index: int
    param_sets: Annotated[list[ParamSet], Field(min_length=1)]
    execution: Execution


class BacktestResult(Message):
    params: ParamSet
    metrics: Metrics


class BacktestBatchCompleted(Message):
    task_id: str
    sweep_id: str
    dataset: str
    strategy: str
    batch_index: int
    results: list[BacktestResult]
    artifact_uri: str
    definitions: dict[str, Any]
    bars: int
    first_bar: datetime | None = None
    last_bar: datetime | None = None
    duration_ms: float
    # -- v2 --
    #: the replica that computed the task (``host:pid``); None for events written before v2
    worker: str | None = None
    #: time spent in the engine alone (``duration_ms`` also counts loading data and storing artifacts)
    engine_ms: float | None = None


class BacktestBatchFailed(Message):
    task_id: str
    sweep_id: str
    dataset: str
    strategy: str
    batch_index: int
    backtests: int
    error_type: str
    error: str


class SweepCompleted(Message):
    sweep_id: str
    name: str
    task_count: int
    backtest_count: int
    failed_task_count: int
    completed_at: datetime
    best: BacktestResultRef | None = None


class BacktestResultRef(Message):
    dataset: str
    strategy: str
    params: ParamSet
    sharpe: float | None
    total_return: float


class SweepFailed(Message):
    sweep_id: str
    reason: str


SweepCompleted.model_rebuild()
