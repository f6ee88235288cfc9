"""Dashboard settings, from ``ZIXLY_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZIXLY_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    #: the PostgreSQL schema holding the read models (``zixly replay`` builds another one to switch to)
    database_schema: str = Field(default="public", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8000
    log_level: str = "INFO"
