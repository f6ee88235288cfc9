"""Aggregator settings, from ``ZIXLY_*`` environment variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZIXLY_", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_enable_idempotence: bool = False
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    aggregator_http_host: str = "127.0.0.1"
    aggregator_http_port: int = 8082
    aggregator_group_id: str = "zixly-aggregator"
    aggregator_outbox_interval_s: float = 1.0
    log_level: str = "INFO"
