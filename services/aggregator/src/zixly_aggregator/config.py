"""Aggregator settings, from ``ZIXLY_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from zixly_runtime.settings import ConsumerSettings


class Settings(ConsumerSettings):
    model_config = SettingsConfigDict(env_prefix="ZIXLY_", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_enable_idempotence: bool = False
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    #: the PostgreSQL schema holding the read models (``zixly replay`` builds another one to switch to)
    database_schema: str = Field(default="public", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    aggregator_http_host: str = "127.0.0.1"
    aggregator_http_port: int = 8082
    aggregator_group_id: str = "zixly-aggregator"
    aggregator_outbox_interval_s: float = 1.0
    #: a projection is one short transaction; a database that does not answer fails it, and it retries
    consumer_task_timeout_s: float = Field(default=30.0, gt=0)
    log_level: str = "INFO"
