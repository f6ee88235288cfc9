"""The one use case of ingest: verify a webhook, turn it into events, publish them durably."""

from __future__ import annotations

from datetime import UTC, datetime

from zixly_contracts.topics import SWEEPS_REQUESTED, WEBHOOKS_RECEIVED
from zixly_ingest.domain import model
from zixly_ingest.domain.errors import MalformedRequest, UnknownSource
from zixly_ingest.service_layer.ports import EventPublisher, SignatureVerifier


async def receive_webhook(
    *,
    source: str,
    raw_body: bytes,
    headers: dict[str, str],
    verifier: SignatureVerifier,
    publisher: EventPublisher,
    max_backtests: int,
) -> model.AcceptedWebhook:
    """Verify over the raw bytes, then validate, then publish; return once the broker acknowledged."""
    if not verifier.known_source(source):
        raise UnknownSource(f"no webhook source named {source!r} is configured")
    try:
        body = raw_body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest(f"the body is not valid UTF-8 (byte {exc.start})") from exc
    lowered = {name.lower(): value for name, value in headers.items()}
    verifier.verify(source, body, lowered)
    accepted = model.accept(
        source=source,
        webhook_id=lowered["webhook-id"],
        body=body,
        headers=lowered,
        received_at=datetime.now(UTC),
        max_backtests=max_backtests,
    )
    await publisher.publish(WEBHOOKS_RECEIVED, accepted.received, key=accepted.received.data.webhook_id)
    await publisher.publish(SWEEPS_REQUESTED, accepted.requested, key=accepted.sweep_id)
    return accepted
