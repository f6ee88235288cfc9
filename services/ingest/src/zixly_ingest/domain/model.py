"""Turning one verified webhook into the events it stands for. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pydantic_core import from_json

from zixly_contracts import ids
from zixly_contracts.envelope import REGISTRY, Envelope, type_of
from zixly_contracts.events import SweepRequested, WebhookReceived
from zixly_contracts.sweep_spec import MAX_DATASETS, SweepSpec
from zixly_ingest.domain.errors import (
    InvalidPayload,
    MalformedRequest,
    SweepTooLarge,
    UnsupportedPayloadType,
)
from zixly_ingest.domain.sources import Source

EVENT_SOURCE = "/zixly/ingest"
#: Headers kept verbatim in ``WebhookReceived`` besides the ones the source's scheme signs.
KEPT_HEADERS = ("content-type", "user-agent")
#: Headers as they arrived: lower-case names, in order, repeats kept (so that a repeat can be refused).
Headers = Sequence[tuple[str, str]]


def one_header(headers: Headers, name: str) -> str | None:
    """The value of a header that must appear at most once (names compare case-insensitively).

    Every header ingest reads goes through here (``Content-Type`` and the headers of the source's
    scheme), so a repeat of any of them is the same 400."""
    values = [value for key, value in headers if key == name]
    if len(values) > 1:
        raise MalformedRequest(
            f"the header {name!r} appears {len(values)} times (names are case-insensitive); send it once"
        )
    return values[0] if values else None


def required_header(value: str | None, name: str, role: str = "") -> str:
    """A header's value (as :func:`one_header` read it) that must be there and not blank, stripped;
    ``role`` says what it is for in the message, e.g. ``" (the payload type)"``."""
    if value is None:
        raise MalformedRequest(f"the header {name!r}{role} is missing")
    if not value.strip():
        raise MalformedRequest(f"the header {name!r}{role} is empty")
    return value.strip()


def decode_utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest(
            f"the body is not valid UTF-8 (byte {exc.start}); send JSON encoded as UTF-8"
        ) from exc


@dataclass(frozen=True)
class Ignored:
    payload_type: str


@dataclass(frozen=True)
class SweepAsked:
    payload_type: str
    spec: SweepSpec


def interpret(source: Source, body: str, type_from_header: str | None) -> Ignored | SweepAsked:
    """Parse the JSON body, find its payload type and map it; validate the sweep it asks for."""
    try:
        document = from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise MalformedRequest(f"the body is not valid JSON ({exc}); send a JSON object") from exc
    if not isinstance(document, dict):
        raise InvalidPayload(
            "the body must be a JSON object",
            [{"loc": [], "msg": "must be a JSON object", "type": "dict_type"}],
        )
    payload_type = _payload_type(source, document, type_from_header)
    kind = source.events.get(payload_type)
    if kind is None:
        known = ", ".join(sorted(source.events)) or "none"
        raise UnsupportedPayloadType(
            f"payload type {payload_type!r} is not mapped for source {source.name!r} (known: {known})"
        )
    if kind == "ignore":
        return Ignored(payload_type)
    data = _spec_data(source, document)
    prefix: list[str | int] = [] if source.data_field is None else [source.data_field]
    check_symbols_before_validation(source, data)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"loc": prefix + list(e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise InvalidPayload(pretty(errors), errors) from exc
    return SweepAsked(payload_type, spec)


_JSON_TYPES = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string"}


def _spec_data(source: Source, document: dict[str, Any]) -> dict[str, Any]:
    """The sweep spec of the body: the body itself, or its data field, which must be a JSON object."""
    if source.data_field is None:
        return document
    if source.data_field not in document:
        raise InvalidPayload(
            f"{source.data_field}: field required (the sweep spec)",
            [{"loc": [source.data_field], "msg": "Field required", "type": "missing"}],
        )
    data = document[source.data_field]
    if not isinstance(data, dict):
        got = _JSON_TYPES.get(type(data), "an array")
        raise InvalidPayload(
            f"{source.data_field}: must be a JSON object (the sweep spec), not {got}",
            [{"loc": [source.data_field], "msg": f"must be a JSON object, not {got}", "type": "dict_type"}],
        )
    return data


def _payload_type(source: Source, document: dict[str, Any], type_from_header: str | None) -> str:
    if source.type_header is not None:
        return required_header(type_from_header, source.type_header, " (the payload type)")
    assert source.type_field is not None
    value = document.get(source.type_field)
    if not isinstance(value, str) or not value:
        raise InvalidPayload(
            f"{source.type_field}: a non-empty string naming the payload type is required",
            [{"loc": [source.type_field], "msg": "must be a non-empty string", "type": "string_type"}],
        )
    return value


def upper_bound_of_backtests(spec: SweepSpec) -> int:
    """Grid size before constraints (or the sample's size), per dataset: what the planner could at most
    produce."""
    total = 0
    for strategy in spec.strategies:
        combos = strategy.points
        assert combos is not None, "a validated spec has no range too long to count"
        if strategy.sample is not None:
            combos = min(combos, strategy.sample.n)
        total += combos
    return total


def max_symbols(source: Source) -> int:
    """The symbols a sweep of ``source`` may name: its configured limit, within the contract's cap."""
    return min(source.limits.max_symbols, MAX_DATASETS)


def check_symbols_before_validation(source: Source, data: Any) -> None:
    """Refuse a sweep naming more symbols than allowed as ``sweep-too-large`` with its ``limits`` entry,
    before the contract's cap on the datasets list would report it as a bare list-length error."""
    datasets = data.get("datasets") if isinstance(data, dict) else None
    if not isinstance(datasets, list) or len(datasets) <= MAX_DATASETS:
        return  # validation and check_limits see it, with the other limits
    named = (entry.get("symbol") for entry in datasets if isinstance(entry, dict))
    symbols = {symbol for symbol in named if isinstance(symbol, str)}
    if len(symbols) > max_symbols(source):
        _refuse([{"limit": "symbols", "asked": len(symbols), "max": max_symbols(source)}])


def check_limits(source: Source, spec: SweepSpec, dataset_bars: Mapping[str, int]) -> None:
    """Refuse a sweep bigger than the source may ask for, saying which limit and by how much."""
    limits = source.limits
    per_dataset = upper_bound_of_backtests(spec)
    backtests = per_dataset * len(spec.datasets)
    symbols = len({d.symbol for d in spec.datasets})
    too_big: list[dict[str, Any]] = []
    if backtests > limits.max_backtests:
        too_big.append({"limit": "backtests", "asked": backtests, "max": limits.max_backtests})
    if symbols > max_symbols(source):
        too_big.append({"limit": "symbols", "asked": symbols, "max": max_symbols(source)})
    if limits.max_bars is not None:
        bars = sum(per_dataset * dataset_bars.get(d.symbol, 0) for d in spec.datasets)
        if bars > limits.max_bars:
            too_big.append({"limit": "bars", "asked": bars, "max": limits.max_bars})
    if too_big:
        _refuse(too_big)


_LIMIT_WORDS = {
    "backtests": "backtests (datasets × parameter combinations)",
    "symbols": "symbols",
    "bars": "bars to simulate (backtests × bars of their dataset)",
}


def _refuse(too_big: list[dict[str, Any]]) -> None:
    message = "; ".join(
        f"the sweep asks for up to {item['asked']} {_LIMIT_WORDS[item['limit']]}; the limit is {item['max']}"
        for item in too_big
    )
    raise SweepTooLarge(message + ": split the sweep or narrow its grid", too_big)


@dataclass(frozen=True)
class AcceptedWebhook:
    sweep_id: str
    received: Envelope[WebhookReceived]
    requested: Envelope[SweepRequested]


def events_for(
    *,
    source: Source,
    webhook_id: str,
    body: str,
    headers: Headers,
    spec: SweepSpec,
    received_at: datetime,
) -> AcceptedWebhook:
    """The two events of an accepted sweep webhook, with ids that collapse every redelivery into one."""
    sweep = ids.sweep_id(source.name, webhook_id)
    names = set(source.signed_headers) | set(KEPT_HEADERS)
    kept = {name: value for name, value in headers if name in names}
    # Built from values that are validated already (the spec by SweepSpec, the rest by the checks
    # above), so pydantic's validation is skipped: ``test_events_equal_their_validated_twins`` holds
    # this to what ``zixly_contracts.envelope.envelope`` would build.
    received_id = ids.event_id(f"{source.name}:{webhook_id}", "webhook.received")
    received = _envelope(
        WebhookReceived.model_construct(
            webhook_id=webhook_id, source=source.name, received_at=received_at, body=body, headers=kept
        ),
        id=received_id,
        subject=sweep,
        correlation_id=webhook_id,
        causation_id=None,
        time=received_at,
    )
    requested = _envelope(
        SweepRequested.model_construct(sweep_id=sweep, source=source.name, webhook_id=webhook_id, spec=spec),
        id=ids.event_id(sweep, "sweep.requested"),
        subject=sweep,
        correlation_id=webhook_id,
        causation_id=received_id,
        time=received_at,
    )
    return AcceptedWebhook(sweep_id=sweep, received=received, requested=requested)


_ENVELOPES = {
    model: Envelope[model]  # type: ignore[valid-type]
    for model in (WebhookReceived, SweepRequested)
}


def _envelope(
    data: WebhookReceived | SweepRequested,
    *,
    id: str,
    subject: str,
    correlation_id: str,
    causation_id: str | None,
    time: datetime,
) -> Any:
    name = type_of(type(data))
    return _ENVELOPES[type(data)].model_construct(
        specversion="1.0",
        id=id,
        source=EVENT_SOURCE,
        type=name,
        time=time,
        subject=subject,
        datacontenttype="application/json",
        schema_version=REGISTRY[name].version,
        correlation_id=correlation_id,
        causation_id=causation_id,
        data=data,
    )


def pretty(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors)
