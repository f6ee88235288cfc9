"""Deterministic ids: a retried webhook, a replanned sweep or a recomputed task collapses into one."""

from __future__ import annotations

import uuid

ZIXLY_NAMESPACE = uuid.UUID("6f1d3c2a-6a43-5b8e-9c61-0d5f3b7a2e10")


def sweep_id(source: str, webhook_id: str) -> str:
    return str(uuid.uuid5(ZIXLY_NAMESPACE, f"sweep:{source}:{webhook_id}"))


def task_id(sweep_id: str, dataset: str, strategy: str, batch_index: int) -> str:
    return str(uuid.uuid5(ZIXLY_NAMESPACE, f"task:{sweep_id}:{dataset}:{strategy}:{batch_index}"))


def event_id(subject: str, kind: str) -> str:
    """Id of the one event of ``kind`` that ``subject`` (a webhook, sweep or task id) may produce."""
    return str(uuid.uuid5(ZIXLY_NAMESPACE, f"event:{kind}:{subject}"))
