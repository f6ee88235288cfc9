"""``ZIXLY_DATABASE_SCHEMA`` points the dashboard at the read models ``zixly replay`` rebuilt elsewhere."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from zixly_dashboard_api.adapters.postgres import PostgresReadModels, make_engine
from zixly_dashboard_api.config import Settings


async def test_the_schema_setting_chooses_the_read_models(
    empty_database_url: str, migrate: Callable[[str, str, str], None]
) -> None:
    for schema in ("public", "rebuilt_1"):  # the aggregator's own read models, in two schemas
        migrate("aggregator", empty_database_url, schema)
    setup = create_async_engine(empty_database_url)
    try:
        async with setup.begin() as conn:
            for schema, sweep_id in (("public", "live"), ("rebuilt_1", "replayed")):
                await conn.execute(
                    text(
                        f"INSERT INTO {schema}.sweeps (sweep_id, name, status, updated_at) "
                        "VALUES (:id, 'demo', 'completed', now())"
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
