"""Ingest settings, from ``ZIXLY_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZIXLY_", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_enable_idempotence: bool = False
    #: source name → its Standard Webhooks secrets (``whsec_…``); several during a rotation.
    webhook_secrets: dict[str, list[str]] = Field(default_factory=dict)
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8080
    ingest_max_body_bytes: int = Field(default=1_048_576, gt=0)
    ingest_publish_timeout_s: float = Field(default=5.0, gt=0)
    ingest_max_backtests_per_sweep: int = Field(default=1_000_000, gt=0)
    log_level: str = "INFO"

    @field_validator("webhook_secrets")
    @classmethod
    def _secrets_are_standard_webhooks(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for source, secrets in value.items():
            if not secrets:
                raise ValueError(f"source {source!r} has no secret")
            for secret in secrets:
                if not secret.startswith("whsec_"):
                    raise ValueError(
                        f"secret of source {source!r} must look like 'whsec_<base64>' "
                        f"(got one starting with {secret[:6]!r})"
                    )
        return value
