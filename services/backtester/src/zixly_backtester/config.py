"""Backtester settings, from ``ZIXLY_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from zixly_runtime.settings import ConsumerSettings


class Settings(ConsumerSettings):
    model_config = SettingsConfigDict(env_prefix="ZIXLY_", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_enable_idempotence: bool = False
    object_store_url: str = "file://./.zixly/objects"
    s3_endpoint_url: str | None = None
    backtester_http_host: str = "127.0.0.1"
    backtester_http_port: int = 8081
    #: parameter sets per task; sized so that a task takes well under a second on real data (README).
    backtester_batch_size: int = Field(default=256, gt=0, le=10_000)
    backtester_max_backtests_per_sweep: int = Field(default=1_000_000, gt=0)
    backtester_group_id: str = "zixly-backtester"
    backtester_planner_group_id: str = "zixly-planner"
    log_level: str = "INFO"
