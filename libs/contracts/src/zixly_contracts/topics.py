"""Kafka topic names and the partition counts they are created with.

Tasks are keyed by task id and spread over many partitions, so one big sweep can use every backtester
replica; the partition count of ``backtests.tasks`` is the ceiling on useful replicas.
Everything else is keyed by sweep id so that per-sweep order holds.
"""

from __future__ import annotations

from dataclasses import dataclass

WEBHOOKS_RECEIVED = "webhooks.received"
SWEEPS_REQUESTED = "sweeps.requested"
BACKTESTS_TASKS = "backtests.tasks"
BACKTESTS_RESULTS = "backtests.results"
SWEEPS_LIFECYCLE = "sweeps.lifecycle"


def retry_topic(topic: str) -> str:
    return f"{topic}.retry"


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int


MAX_BACKTESTER_REPLICAS = 32

_BASE_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(WEBHOOKS_RECEIVED, 4),
    TopicSpec(SWEEPS_REQUESTED, 4),
    TopicSpec(BACKTESTS_TASKS, MAX_BACKTESTER_REPLICAS),
    TopicSpec(BACKTESTS_RESULTS, 8),
    TopicSpec(SWEEPS_LIFECYCLE, 4),
)


def all_topics() -> tuple[TopicSpec, ...]:
    """Every topic the system uses, with its retry and dead-letter companions."""
    specs: list[TopicSpec] = []
    for spec in _BASE_TOPICS:
        specs.append(spec)
        specs.append(TopicSpec(retry_topic(spec.name), spec.partitions))
        specs.append(TopicSpec(dead_letter_topic(spec.name), 1))
    return tuple(specs)
