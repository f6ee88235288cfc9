"""Turning one verified webhook into the events it stands for. Pure: no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from zixly_contracts import ids
from zixly_contracts.envelope import Envelope, envelope
from zixly_contracts.events import SweepRequested, WebhookReceived
from zixly_contracts.sweep_spec import SweepSpec

EVENT_SOURCE = "/zixly/ingest"
#: Headers kept verbatim in ``WebhookReceived`` (everything needed to verify it again later).
KEPT_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent")


class SweepWebhook(BaseModel):
    """A Standard Webhooks payload: ``{"type": "sweep.requested", "timestamp": …, "data": {…}}``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["sweep.requested"]
    timestamp: datetime | None = None
    data: SweepSpec


class InvalidPayload(ValueError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("the webhook payload is not a valid sweep request")
        self.errors = errors


class SweepTooLarge(ValueError):
    pass


@dataclass(frozen=True)
class AcceptedWebhook:
    sweep_id: str
    received: Envelope[WebhookReceived]
    requested: Envelope[SweepRequested]


def parse_payload(body: str) -> SweepWebhook:
    try:
        return SweepWebhook.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidPayload(
            [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False)
            ]
        ) from exc


def upper_bound_of_backtests(spec: SweepSpec) -> int:
    """Grid size before constraints: what the planner could at most produce."""
    total = 0
    for strategy in spec.strategies:
        combos = 1
        for values in strategy.grid.values():
            if isinstance(values, list):
                combos *= len(values)
            elif isinstance(values, int | float):
                combos *= 1
            else:
                combos *= int((values.stop - values.start) // values.step) + 1
        if strategy.sample is not None:
            combos = min(combos, strategy.sample.n)
        total += combos
    return total * len(spec.datasets)


def accept(
    *,
    source: str,
    webhook_id: str,
    body: str,
    headers: dict[str, str],
    received_at: datetime,
    max_backtests: int,
) -> AcceptedWebhook:
    payload = parse_payload(body)
    size = upper_bound_of_backtests(payload.data)
    if size > max_backtests:
        raise SweepTooLarge(f"the sweep asks for up to {size} backtests; the limit is {max_backtests}")
    sweep = ids.sweep_id(source, webhook_id)
    kept = {name: headers[name] for name in KEPT_HEADERS if name in headers}
    received = envelope(
        WebhookReceived(
            webhook_id=webhook_id, source=source, received_at=received_at, body=body, headers=kept
        ),
        id=ids.event_id(f"{source}:{webhook_id}", "webhook.received"),
        source=EVENT_SOURCE,
        subject=sweep,
        correlation_id=webhook_id,
    )
    requested = envelope(
        SweepRequested(sweep_id=sweep, source=source, webhook_id=webhook_id, spec=payload.data),
        id=ids.event_id(sweep, "sweep.requested"),
        source=EVENT_SOURCE,
        subject=sweep,
        correlation_id=webhook_id,
        causation_id=received.id,
    )
    return AcceptedWebhook(sweep_id=sweep, received=received, requested=requested)


def pretty(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors) or json.dumps(
        errors
    )
