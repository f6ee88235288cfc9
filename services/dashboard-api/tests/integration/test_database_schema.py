"""``ZIXLY_DATABASE_SCHEMA`` points the dashboard at the read models ``zixly replay`` rebuilt elsewhere."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from zixly_dashboard_api.adapters.postgres import PostgresReadModels, make_engine
from zixly_dashboard_api.config import Settings

SWEEPS_TABLE = """
CREATE TABLE {schema}.sweeps (
    sweep_id text PRIMARY KEY, name text, status text, failure_reason text,
    datasets jsonb, strategies jsonb, task_count int, backtest_count int, tasks_done int,
    tasks_failed int, backtests_done int, requested_at timestamptz, planned_at timestamptz,
    completed_at timestamptz, updated_at timestamptz
)
"""


async def test_the_schema_setting_chooses_the_read_models(empty_database_url: str) -> None:
    setup = create_async_engine(empty_database_url)
    try:
        async with setup.begin() as conn:
            for schema, sweep_id in (("public", "live"), ("rebuilt_1", "replayed")):
                await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
                await conn.execute(text(SWEEPS_TABLE.format(schema=schema)))
                await conn.execute(
                    text(
                        f"INSERT INTO {schema}.sweeps VALUES (:id, 'demo', 'completed', NULL, '[]', '[]', "
                        "1, 1, 1, 0, 1, now(), now(), now(), now())"
                    ),
                    {"id": sweep_id},
                )
    finally:
        await setup.dispose()
    for schema, expected in (("public", "live"), ("rebuilt_1", "replayed")):
        engine = make_engine(empty_database_url, schema=schema)
        try:
            assert [s.sweep_id for s in await PostgresReadModels(engine).sweeps(10, 0)] == [expected]
        finally:
            await engine.dispose()


def test_the_schema_setting_is_a_plain_identifier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIXLY_DATABASE_SCHEMA", "rebuilt_20260102")
    assert Settings().database_schema == "rebuilt_20260102"
    monkeypatch.setenv("ZIXLY_DATABASE_SCHEMA", "x; DROP TABLE sweeps")
    with pytest.raises(ValueError, match="database_schema"):
        Settings()
