"""Signing and posting sweep webhooks the way a producer would (Standard Webhooks)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook


def signed_headers(
    secret: str, body: str, *, webhook_id: str | None = None, timestamp: datetime | None = None
) -> dict[str, str]:
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = timestamp or datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, timestamp, body),
        "content-type": "application/json",
    }


def sweep_payload(spec: dict[str, Any]) -> str:
    """Wrap a sweep spec in the Standard Webhooks payload shape, unless it already is one.

    The same spec always gives the same body, so re-submitting it under the same webhook id is a
    redelivery (ingest answers ``duplicate``); the signing time goes in the ``webhook-timestamp`` header.
    """
    if "type" in spec and "data" in spec:
        return json.dumps(spec)
    return json.dumps({"type": "sweep.requested", "data": spec})


def submit(
    file: Path, *, url: str, source: str, secret: str, webhook_id: str | None = None, timeout_s: float = 30.0
) -> httpx.Response:
    body = sweep_payload(json.loads(file.read_text()))
    headers = signed_headers(secret, body, webhook_id=webhook_id)
    return httpx.post(
        f"{url.rstrip('/')}/webhooks/{source}", content=body.encode(), headers=headers, timeout=timeout_s
    )
