"""Webhook sources as configuration: who may post, how they sign, what they may ask for.

A source is a name (the ``{source}`` of ``POST /webhooks/{source}``), a signature scheme with one or
more secrets (any of them verifies, for rotation), limits, and a mapping from the payload types the
sender uses to the events ingest publishes. Pure data and checks: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scheme = Literal["standard-webhooks", "hmac-sha256-hex"]
#: What a payload type becomes: the one event kind ingest publishes today, or nothing (a 202 all the same,
#: so a sender's pings and events we do not use are not retried forever).
EventKind = Literal["sweep.requested", "ignore"]

SOURCE_NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"
HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"
AWS_SECRETS_MANAGER = "aws-secretsmanager:"
ENV = "env:"
STANDARD_WEBHOOKS_PREFIX = "whsec_"
#: Standard Webhooks: "secret keys SHOULD be between 24 bytes (192 bits) and 64 bytes".
MIN_WHSEC_BYTES = 24
MIN_HMAC_SECRET_CHARS = 16

SourceName = Annotated[str, Field(pattern=SOURCE_NAME)]
HeaderName = Annotated[str, Field(pattern=HEADER_NAME)]


class SourceSpec(BaseModel):
    """One entry of ``ZIXLY_INGEST_SOURCES``; unset limits fall back to the service-wide defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scheme: Scheme = "standard-webhooks"
    #: Inline secrets, ``env:VARIABLE`` or ``aws-secretsmanager:<secret id>``; any one of them verifies.
    secrets: list[str] = Field(min_length=1, max_length=16)
    #: hmac-sha256-hex only: where the signature and the delivery id travel.
    signature_header: HeaderName | None = None
    signature_prefix: str = Field(default="sha256=", max_length=32)
    id_header: HeaderName | None = None
    #: Where the payload type is: a header (``x-github-event``) or a top-level body field.
    type_header: HeaderName | None = None
    type_field: str | None = "type"
    #: The top-level field holding the sweep spec; ``null``: the whole body is the spec.
    data_field: str | None = "data"
    events: dict[str, EventKind] = Field(default_factory=lambda: {"sweep.requested": "sweep.requested"})
    max_body_bytes: int | None = Field(default=None, gt=0)
    rate_per_second: float | None = Field(default=None, gt=0)
    rate_burst: int | None = Field(default=None, gt=0)
    max_backtests: int | None = Field(default=None, gt=0)
    max_symbols: int | None = Field(default=None, gt=0)
    max_bars: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> SourceSpec:
        if self.scheme == "standard-webhooks" and (self.signature_header or self.id_header):
            raise ValueError(
                "standard-webhooks fixes its headers (webhook-id, webhook-timestamp, webhook-signature): "
                "drop signature_header and id_header, or use scheme hmac-sha256-hex"
            )
        if self.type_header is None and self.type_field is None:
            raise ValueError("set type_header or type_field: ingest must know each payload's type")
        if not any(kind != "ignore" for kind in self.events.values()):
            raise ValueError("events maps no payload type to an event")
        for index, secret in enumerate(self.secrets, start=1):
            problem = inline_secret_problem(self.scheme, secret)
            if problem:
                raise ValueError(f"secret #{index}: {problem}")
        return self


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    max_backtests: int
    max_symbols: int
    max_bars: int | None


@dataclass(frozen=True)
class Source:
    """A source with every default applied: what the use case works with."""

    name: str
    scheme: Scheme
    secrets: tuple[str, ...]
    limits: Limits
    rate_per_second: float
    rate_burst: int
    signature_header: str = "x-hub-signature-256"
    signature_prefix: str = "sha256="
    id_header: str = "x-github-delivery"
    type_header: str | None = None
    type_field: str | None = "type"
    data_field: str | None = "data"
    events: dict[str, EventKind] = field(default_factory=lambda: {"sweep.requested": "sweep.requested"})

    @property
    def signed_headers(self) -> tuple[str, ...]:
        """The headers the scheme reads (lower case): kept verbatim in ``WebhookReceived``."""
        if self.scheme == "standard-webhooks":
            return ("webhook-id", "webhook-timestamp", "webhook-signature")
        kept = (self.id_header, self.signature_header)
        return kept + ((self.type_header,) if self.type_header else ())


def is_reference(secret: str) -> bool:
    return secret.startswith((AWS_SECRETS_MANAGER, ENV))


def inline_secret_problem(scheme: Scheme, secret: str) -> str | None:
    """What is wrong with an inline secret, in words that never repeat the secret; None if it is fine.

    References (``env:…``, ``aws-secretsmanager:…``) are checked when they are resolved.
    """
    if is_reference(secret):
        name = secret.split(":", 1)[1]
        return None if name.strip() == name and name else "a secret reference needs a name after the colon"
    return key_problem(scheme, secret)


def key_problem(scheme: Scheme, secret: str) -> str | None:
    if secret != secret.strip():
        return "it has leading or trailing whitespace"
    if scheme == "hmac-sha256-hex":
        if len(secret) < MIN_HMAC_SECRET_CHARS:
            return f"an hmac-sha256-hex secret needs at least {MIN_HMAC_SECRET_CHARS} characters"
        return None
    if secret.startswith("v1,"):
        return (
            "must look like 'whsec_<base64>'; it starts with 'v1,', which begins a signature, not a secret: "
            "drop the 'v1,'"
        )
    if not secret.startswith(STANDARD_WEBHOOKS_PREFIX):
        return "must look like 'whsec_<base64>' (a Standard Webhooks secret)"
    encoded = secret[len(STANDARD_WEBHOOKS_PREFIX) :]
    if not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", encoded):
        return "must look like 'whsec_<base64>': the part after 'whsec_' is not base64"
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return "must look like 'whsec_<base64>': the part after 'whsec_' is not base64"
    if len(key) < MIN_WHSEC_BYTES:
        return f"the key is {len(key)} bytes; Standard Webhooks secrets have at least {MIN_WHSEC_BYTES}"
    return None


def resolve(name: str, spec: SourceSpec, defaults: Limits, rate_per_second: float, rate_burst: int) -> Source:
    def pick(value: int | None, default: int) -> int:
        return default if value is None else value

    extra: dict[str, str] = {}
    if spec.signature_header:
        extra["signature_header"] = spec.signature_header.lower()
    if spec.id_header:
        extra["id_header"] = spec.id_header.lower()
    return Source(
        name=name,
        scheme=spec.scheme,
        secrets=tuple(spec.secrets),
        limits=Limits(
            max_body_bytes=pick(spec.max_body_bytes, defaults.max_body_bytes),
            max_backtests=pick(spec.max_backtests, defaults.max_backtests),
            max_symbols=pick(spec.max_symbols, defaults.max_symbols),
            max_bars=spec.max_bars if spec.max_bars is not None else defaults.max_bars,
        ),
        rate_per_second=spec.rate_per_second or rate_per_second,
        rate_burst=spec.rate_burst or rate_burst,
        signature_prefix=spec.signature_prefix,
        type_header=spec.type_header.lower() if spec.type_header else None,
        type_field=spec.type_field,
        data_field=spec.data_field,
        events=dict(spec.events),
        **extra,
    )
