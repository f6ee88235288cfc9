"""Deterministic ids: a retried webhook, a replanned sweep or a recomputed task collapses into one."""

from __future__ import annotations

import uuid

ZIXLY_NAMESPACE = uuid.UUID("6f1d3c2a-6a43-5b8e-9c61-0d5f3b7a2e10")

#: What a sweep id may be where one is looked up (the dashboard API's path, ``zixly sweep status``): the
#: UUIDs :func:`sweep_id` makes, within an alphabet that is safe in a URL path as it stands.
SWEEP_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"


def sweep_id(source: str, webhook_id: str) -> str:
    return str(uuid.uuid5(ZIXLY_NAMESPACE, f"sweep:{source}:{webhook_id}"))


def task_id(sweep_id: str, dataset: str, strategy: str, batch_index: int) -> str:
    return str(uuid.uuid5(ZIXLY_NAMESPACE, f"task:{sweep_id}:{dataset}:{strategy}:{batch_index}"))


def event_id(subject: str, kind: str) -> str:
    """Id of the one event of ``kind`` that ``subject`` (a webhook, sweep or task id) may produce."""
    return str(uuid.uuid5(ZIXLY_NAMESPACE, f"event:{kind}:{subject}"))
