"""The CloudEvents 1.0 structured JSON envelope every message travels in.

One envelope shape everywhere: ``application/cloudevents+json`` bodies carrying the attributes and the
versioned ``data``. Decoding upcasts old ``schema_version``s to the current one, so a log replayed from
the start always reads as current events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zixly_contracts import events as ev
from zixly_contracts.sweep_spec import RECORDED

CONTENT_TYPE = "application/cloudevents+json"
TYPE_PREFIX = "com.zixly."

M = TypeVar("M", bound=ev.Message)


class EventType:
    """The registry entry of one message type: its CloudEvents type and current schema version."""

    def __init__(self, name: str, model: type[ev.Message], version: int) -> None:
        self.name = name
        self.model = model
        self.version = version


#: Current schema version of each message type (1 unless listed).
CURRENT_VERSIONS: dict[str, int] = {"backtest.batch.completed": 2}

REGISTRY: dict[str, EventType] = {
    f"{TYPE_PREFIX}{name}": EventType(f"{TYPE_PREFIX}{name}", model, CURRENT_VERSIONS.get(name, 1))
    for name, model in {
        "webhook.received": ev.WebhookReceived,
        "sweep.requested": ev.SweepRequested,
        "sweep.planned": ev.SweepPlanned,
        "backtest.batch.run": ev.RunBacktestBatch,
        "backtest.batch.completed": ev.BacktestBatchCompleted,
        "backtest.batch.failed": ev.BacktestBatchFailed,
        "sweep.completed": ev.SweepCompleted,
        "sweep.failed": ev.SweepFailed,
    }.items()
}
_TYPE_OF_MODEL = {entry.model: entry for entry in REGISTRY.values()}

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def _batch_completed_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v2 added who computed the task and the engine's own time; v1 events did not record them."""
    return {**data, "worker": None, "engine_ms": None}


#: (ce type, from version) → function turning that version's data into the next version's.
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    (f"{TYPE_PREFIX}backtest.batch.completed", 1): _batch_completed_v1_to_v2,
}


class Envelope(BaseModel, Generic[M]):
    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    time: datetime
    subject: str
    datacontenttype: Literal["application/json"] = "application/json"
    schema_version: int = Field(ge=1)
    correlation_id: str
    causation_id: str | None = None
    data: M


class UndecodableMessage(ValueError):
    """A message that is not a valid event of a known type and version: poison, never retried."""


def type_of(model: type[ev.Message]) -> str:
    return _TYPE_OF_MODEL[model].name


def envelope(
    data: M,
    *,
    id: str,
    source: str,
    subject: str,
    correlation_id: str,
    causation_id: str | None = None,
    time: datetime | None = None,
) -> Envelope[M]:
    entry = _TYPE_OF_MODEL[type(data)]
    return Envelope[type(data)](  # type: ignore[misc]
        id=id,
        source=source,
        type=entry.name,
        time=time or datetime.now(UTC),
        subject=subject,
        schema_version=entry.version,
        correlation_id=correlation_id,
        causation_id=causation_id,
        data=data,
    )


def encode(env: Envelope[Any]) -> bytes:
    return env.model_dump_json().encode()


class _Head(BaseModel):
    """The two attributes that choose the validator; everything else is skipped, not converted."""

    type: str
    schema_version: int


def decode(raw: bytes | str) -> Envelope[Any]:
    """Parse, upcast and validate one message; raise :class:`UndecodableMessage` if it is poison.

    An event of the current version is validated straight into its model, in one pass over the JSON.
    Older versions are upcast first; an invalid message takes that path too, to say what is wrong.
    Events are validated as recorded facts (:data:`~zixly_contracts.sweep_spec.RECORDED`): the limits a
    client's sweep is held to at the door are not applied again.
    """
    try:
        head = _Head.model_validate_json(raw)
        entry = REGISTRY.get(head.type)
        if entry is not None and head.schema_version == entry.version:
            return Envelope[entry.model].model_validate_json(raw, context=RECORDED)  # type: ignore[name-defined]
    except ValidationError:
        pass
    return _decode_upcasting(raw)


def _decode_upcasting(raw: bytes | str) -> Envelope[Any]:
    try:
        head = Envelope[dict[str, Any]].model_validate_json(raw)  # type: ignore[type-var]
    except ValidationError as exc:
        raise UndecodableMessage(f"not a CloudEvents envelope: {exc}") from exc
    entry = REGISTRY.get(head.type)
    if entry is None:
        raise UndecodableMessage(f"unknown event type {head.type!r}")
    if head.schema_version > entry.version:
        raise UndecodableMessage(
            f"{head.type} schema_version {head.schema_version} is newer than this reader's {entry.version}"
        )
    data = dict(head.data)
    version = head.schema_version
    while version < entry.version:
        upcast = UPCASTERS.get((head.type, version))
        if upcast is None:
            raise UndecodableMessage(f"no upcaster for {head.type} v{version}")
        data = upcast(data)
        version += 1
    try:
        payload = entry.model.model_validate(data, context=RECORDED)
    except ValidationError as exc:
        raise UndecodableMessage(f"invalid {head.type} v{head.schema_version} data: {exc}") from exc
    return Envelope[entry.model](  # type: ignore[name-defined]
        **head.model_dump(exclude={"data", "schema_version"}), schema_version=entry.version, data=payload
    )
