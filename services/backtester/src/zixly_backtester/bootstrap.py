"""Composition root: settings → a wired FastStream ASGI app. Nothing runs at import."""

from __future__ import annotations

import os
import socket

from faststream.asgi import AsgiFastStream
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, Counter, Histogram

from zixly_backtester.adapters.artifacts import ParquetArtifactStore
from zixly_backtester.adapters.datasets import StoreDatasetSource
from zixly_backtester.adapters.object_store import open_store
from zixly_backtester.config import Settings
from zixly_backtester.service_layer import handlers
from zixly_backtester.service_layer.ports import ArtifactStore, DatasetSource
from zixly_contracts.envelope import Envelope
from zixly_contracts.events import (
    BacktestBatchCompleted,
    BacktestBatchFailed,
    RunBacktestBatch,
    SweepFailed,
    SweepPlanned,
    SweepRequested,
)
from zixly_contracts.topics import BACKTESTS_RESULTS, BACKTESTS_TASKS, SWEEPS_LIFECYCLE, SWEEPS_REQUESTED
from zixly_runtime.app import consumer_app
from zixly_runtime.consumer import (
    ConsumerMetrics,
    ConsumerRuntime,
)
from zixly_runtime.kafka import KafkaEventPublisher, make_broker
from zixly_runtime.telemetry import kafka_middlewares


class BacktesterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.backtests = Counter(
            "zixly_backtests_total",
            "Backtests computed (rate() of it is backtests per second)",
            registry=registry,
        )
        self.tasks = Counter(
            "zixly_backtester_tasks_total", "Tasks run, by outcome", ["outcome"], registry=registry
        )
        self.task_duration = Histogram(
            "zixly_backtester_task_duration_seconds",
            "Wall time of one task: load, backtest, store the equity curves, publish",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
            registry=registry,
        )


def build(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    tracer_provider: TracerProvider | None = None,
    datasets: DatasetSource | None = None,
    artifacts: ArtifactStore | None = None,
    hard_exit: bool = False,
) -> AsgiFastStream:
    """Wire the planner and the task worker; tests inject their own registry, tracer and ports."""
    registry = registry or CollectorRegistry()
    broker = make_broker(
        settings.kafka_bootstrap_servers,
        enable_idempotence=settings.kafka_enable_idempotence,
        client_id="zixly-backtester",
        graceful_timeout_s=settings.shutdown_grace_s,
        middlewares=kafka_middlewares(registry, service="backtester", tracer_provider=tracer_provider),
    )
    publisher = KafkaEventPublisher(
        broker,
        documented={
            SWEEPS_LIFECYCLE: Envelope[SweepPlanned | SweepFailed],  # type: ignore[misc]
            BACKTESTS_TASKS: Envelope[RunBacktestBatch],
            BACKTESTS_RESULTS: Envelope[BacktestBatchCompleted | BacktestBatchFailed],  # type: ignore[misc]
        },
    )
    store = open_store(settings.object_store_url, s3_endpoint_url=settings.s3_endpoint_url)
    datasets = datasets or StoreDatasetSource(store)
    artifacts = artifacts or ParquetArtifactStore(store)
    consumer_metrics = ConsumerMetrics(registry)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    metrics = BacktesterMetrics(registry)

    async def plan(event: Envelope[SweepRequested]) -> int:
        return await handlers.plan(
            event,
            publisher=publisher,
            datasets=datasets,
            batch_size=settings.backtester_batch_size,
            max_backtests=settings.backtester_max_backtests_per_sweep,
        )

    async def run(event: Envelope[RunBacktestBatch]) -> object:
        with metrics.task_duration.time():
            outcome = await handlers.run_task(
                event, datasets=datasets, artifacts=artifacts, publisher=publisher, worker=worker
            )
        if isinstance(outcome, BacktestBatchCompleted):
            metrics.tasks.labels("completed").inc()
            metrics.backtests.inc(len(outcome.results))
        else:
            metrics.tasks.labels("failed").inc()
        return outcome

    runtimes = [
        ConsumerRuntime(
            broker,
            (SWEEPS_REQUESTED,),
            handler=plan,
            expected=(SweepRequested,),
            # Planning loads every dataset and publishes every task: it may be long too.
            options=settings.consumer_options(settings.backtester_planner_group_id, background=True),
            metrics=consumer_metrics,
        ),
        # Tasks run in the background with the partitions paused while the poll loop goes on.
        ConsumerRuntime(
            broker,
            (BACKTESTS_TASKS,),
            handler=run,
            expected=(RunBacktestBatch,),
            options=settings.consumer_options(settings.backtester_group_id, background=True),
            metrics=consumer_metrics,
        ),
    ]

    return consumer_app(
        broker,
        runtimes,
        registry,
        settings,
        title="zixly-backtester",
        description="Plans sweeps into tasks (group zixly-planner) and runs them (group zixly-backtester).",
        hard_exit=hard_exit,
    )
