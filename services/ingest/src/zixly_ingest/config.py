"""Ingest settings, from ``ZIXLY_*`` environment variables (read by ``Settings()``, never at import).

Sources come in two forms, which may be combined (a name may appear in only one):

- the simple form, ``ZIXLY_WEBHOOK_SECRETS``: JSON object, source name → list of Standard Webhooks
  secrets (inline ``whsec_…``, ``env:VARIABLE`` or ``aws-secretsmanager:<secret id>``), every other
  setting from the service-wide defaults below;
- the full form, ``ZIXLY_INGEST_SOURCES`` (JSON) or ``ZIXLY_INGEST_SOURCES_FILE`` (a path to the same
  JSON): source name → :class:`~zixly_ingest.domain.sources.SourceSpec` (scheme, secrets, limits, rate,
  payload type mapping).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from zixly_ingest.domain.sources import (
    SOURCE_NAME,
    Limits,
    Source,
    SourceSpec,
    inline_secret_problem,
    resolve,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZIXLY_", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_enable_idempotence: bool = False
    #: PostgreSQL for the dedupe records (ingest's own schema ``ingest``); required.
    database_url: str | None = None

    #: source name → its Standard Webhooks secrets (``whsec_…``); several during a rotation.
    webhook_secrets: dict[str, list[str]] = Field(default_factory=dict)
    ingest_sources: dict[str, SourceSpec] = Field(default_factory=dict)
    ingest_sources_file: Path | None = None

    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8080
    # Service-wide defaults of the per-source limits.
    ingest_max_body_bytes: int = Field(default=1_048_576, gt=0)
    ingest_max_backtests_per_sweep: int = Field(default=1_000_000, gt=0)
    ingest_max_symbols_per_sweep: int = Field(default=100, gt=0)
    ingest_max_bars_per_sweep: int | None = Field(default=None, gt=0)
    #: symbol → bars of its dataset, for the bars limit (datasets not listed count as 0 bars).
    ingest_dataset_bars: dict[str, int] = Field(default_factory=dict)
    ingest_rate_per_second: float = Field(default=100.0, gt=0)
    ingest_rate_burst: int = Field(default=200, gt=0)

    ingest_publish_timeout_s: float = Field(default=5.0, gt=0)
    ingest_retry_after_s: int = Field(default=5, gt=0)
    ingest_body_timeout_s: float = Field(default=10.0, gt=0)
    ingest_kafka_request_timeout_ms: int = Field(default=10_000, ge=1_000)
    ingest_kafka_compression: str | None = None
    ingest_dedupe_retention_hours: float = Field(default=168.0, gt=0)
    ingest_secrets_refresh_s: float = Field(default=300.0, gt=0)

    #: Secrets Manager and SQS endpoint (unset: AWS); region and credentials the usual botocore way.
    ingest_aws_endpoint_url: str | None = None
    ingest_aws_region: str | None = None
    #: source name → URL of an SQS queue its webhooks are relayed through.
    ingest_sqs_queues: dict[str, str] = Field(default_factory=dict)
    ingest_sqs_wait_s: int = Field(default=20, ge=0, le=20)

    log_level: str = "INFO"
    #: Where spans go: none (the default; trace ids still travel in the Kafka headers), console, otlp.
    otel_exporter: str = "none"

    @field_validator("webhook_secrets")
    @classmethod
    def _secrets_are_standard_webhooks(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for source, secrets in value.items():
            if not secrets:
                raise ValueError(f"source {source!r} has no secret")
            for index, secret in enumerate(secrets, start=1):
                problem = inline_secret_problem("standard-webhooks", secret)
                if problem:
                    raise ValueError(f"secret #{index} of source {source!r}: {problem}")
        return value

    @field_validator("ingest_kafka_compression")
    @classmethod
    def _known_compression(cls, value: str | None) -> str | None:
        if value in (None, "", "none"):
            return None
        if value != "gzip":
            raise ValueError("ZIXLY_INGEST_KAFKA_COMPRESSION is 'none' or 'gzip'")
        return value

    @model_validator(mode="after")
    def _sources_are_consistent(self) -> Settings:
        if self.ingest_sources_file is not None:
            try:
                raw = json.loads(self.ingest_sources_file.read_text())
            except (OSError, ValueError) as exc:
                raise ValueError(f"ZIXLY_INGEST_SOURCES_FILE cannot be read as JSON: {exc}") from None
            try:
                from_file = {name: SourceSpec.model_validate(spec) for name, spec in raw.items()}
            except (ValidationError, AttributeError) as exc:
                raise ValueError(f"ZIXLY_INGEST_SOURCES_FILE: {exc}") from None
            clash = from_file.keys() & self.ingest_sources.keys()
            if clash:
                raise ValueError(f"sources {sorted(clash)} are in both ZIXLY_INGEST_SOURCES and its file")
            self.ingest_sources = {**self.ingest_sources, **from_file}
        clash = self.webhook_secrets.keys() & self.ingest_sources.keys()
        if clash:
            raise ValueError(
                f"sources {sorted(clash)} are configured twice (ZIXLY_WEBHOOK_SECRETS and "
                "ZIXLY_INGEST_SOURCES): keep one"
            )
        for name in [*self.webhook_secrets, *self.ingest_sources]:
            if not re.fullmatch(SOURCE_NAME, name):
                raise ValueError(
                    f"source name {name!r} must be lower-case letters, digits, '.', '_' or '-' (at most 64)"
                )
        unknown = self.ingest_sqs_queues.keys() - self.webhook_secrets.keys() - self.ingest_sources.keys()
        if unknown:
            raise ValueError(
                f"ZIXLY_INGEST_SQS_QUEUES names sources that are not configured: {sorted(unknown)}"
            )
        return self

    def sources(self) -> dict[str, Source]:
        defaults = Limits(
            max_body_bytes=self.ingest_max_body_bytes,
            max_backtests=self.ingest_max_backtests_per_sweep,
            max_symbols=self.ingest_max_symbols_per_sweep,
            max_bars=self.ingest_max_bars_per_sweep,
        )
        specs = {name: SourceSpec(secrets=secrets) for name, secrets in self.webhook_secrets.items()}
        specs.update(self.ingest_sources)
        return {
            name: resolve(name, spec, defaults, self.ingest_rate_per_second, self.ingest_rate_burst)
            for name, spec in specs.items()
        }
