"""Ingest's schema through Alembic against a real PostgreSQL: `zixly-ingest migrate` creates the dedupe
table in schema ``ingest`` with its own version table, adopts a table created the old way (at start-up),
and ingest without its schema is not ready and says what to run."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest
from ingest_testkit import new_id, payload, serving, settings, signed

from zixly_ingest.adapters.dedupe import NOT_MIGRATED, asyncpg_dsn
from zixly_ingest.adapters.migrations import upgrade
from zixly_ingest.bootstrap import build

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

#: What ingest ran at start-up before its schema went through Alembic.
START_UP_DDL = (
    "CREATE SCHEMA IF NOT EXISTS ingest",
    """
    CREATE TABLE IF NOT EXISTS ingest.deliveries (
        source        text        NOT NULL,
        webhook_id    text        NOT NULL,
        body_sha256   bytea       NOT NULL,
        claim_token   uuid        NOT NULL,
        lease_until   timestamptz NOT NULL,
        first_seen    timestamptz NOT NULL DEFAULT clock_timestamp(),
        published_at  timestamptz,
        PRIMARY KEY (source, webhook_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS deliveries_first_seen ON ingest.deliveries (first_seen)",
)
COLUMNS = [
    ("source", "text", "NO"),
    ("webhook_id", "text", "NO"),
    ("body_sha256", "bytea", "NO"),
    ("claim_token", "uuid", "NO"),
    ("lease_until", "timestamp with time zone", "NO"),
    ("first_seen", "timestamp with time zone", "NO"),
    ("published_at", "timestamp with time zone", "YES"),
]


def migrate_command(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("zixly-ingest")), "migrate"],
        env={**os.environ, "ZIXLY_DATABASE_URL": database_url, "ZIXLY_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        check=False,
    )


async def fetch(database_url: str, query: str) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return [tuple(row) for row in await conn.fetch(query)]
    finally:
        await conn.close()


async def execute(database_url: str, *statements: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def tables(database_url: str) -> list[tuple[object, ...]]:
    return await fetch(
        database_url,
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
    )


async def version(database_url: str, schema: str) -> list[tuple[object, ...]]:
    return await fetch(database_url, f"SELECT version_num FROM {schema}.alembic_version")


async def test_migrate_creates_the_dedupe_table_and_its_version_table_in_schema_ingest(
    empty_database_url: str,
) -> None:
    for _ in range(2):  # the second run finds the schema current and changes nothing
        result = migrate_command(empty_database_url)
        assert result.returncode == 0, result.stdout + result.stderr

    assert await tables(empty_database_url) == [("ingest", "alembic_version"), ("ingest", "deliveries")]
    assert await version(empty_database_url, "ingest") == [("0001",)]
    assert (
        await fetch(
            empty_database_url,
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'ingest' AND table_name = 'deliveries' ORDER BY ordinal_position",
        )
        == COLUMNS
    )
    assert await fetch(
        empty_database_url,
        "SELECT indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = 'ingest' AND tablename = 'deliveries' ORDER BY 1",
    ) == [
        (
            "deliveries_first_seen",
            "CREATE INDEX deliveries_first_seen ON ingest.deliveries USING btree (first_seen)",
        ),
        (
            "deliveries_pkey",
            "CREATE UNIQUE INDEX deliveries_pkey ON ingest.deliveries USING btree (source, webhook_id)",
        ),
    ]


async def test_the_aggregator_and_ingest_keep_their_own_version_tables(database_url: str) -> None:
    assert await version(database_url, "public") == [("0002",)]
    assert await version(database_url, "ingest") == [("0001",)]


async def test_a_dedupe_table_created_at_start_up_is_adopted_with_its_rows(empty_database_url: str) -> None:
    await execute(
        empty_database_url,
        *START_UP_DDL,
        "INSERT INTO ingest.deliveries"
        " (source, webhook_id, body_sha256, claim_token, lease_until, published_at)"
        " VALUES ('cli', 'msg_old', '\\x01', '00000000-0000-4000-8000-000000000001', now(), now())",
    )

    await asyncio.to_thread(upgrade, empty_database_url)

    assert await version(empty_database_url, "ingest") == [("0001",)]
    assert await fetch(empty_database_url, "SELECT source, webhook_id FROM ingest.deliveries") == [
        ("cli", "msg_old")
    ]
    assert await tables(empty_database_url) == [("ingest", "alembic_version"), ("ingest", "deliveries")]


async def test_ingest_without_its_schema_is_not_ready_and_says_what_to_run(
    kafka_bootstrap: str, empty_database_url: str
) -> None:
    app = build(settings(kafka_bootstrap_servers=kafka_bootstrap, database_url=empty_database_url))
    body, webhook_id = payload(), new_id()
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        # Once Kafka is connected and PostgreSQL answered, the missing schema is all that is left.
        while (not_ready := await client.get("/readyz")).json()["detail"] != NOT_MIGRATED:
            assert not_ready.status_code == 503
            await asyncio.sleep(0.1)
        assert not_ready.status_code == 503
        refused = await client.post(
            "/webhooks/trading-api", content=body, headers=signed(body, webhook_id=webhook_id)
        )
        assert refused.status_code == 503
        assert NOT_MIGRATED in refused.json()["detail"]
        assert await tables(empty_database_url) == [], "ingest creates no schema itself"

        await asyncio.to_thread(upgrade, empty_database_url)
        # It reconnects by itself (backoff up to 5 s), as a pod started before its migration Job ended.
        while (ready := await client.get("/readyz")).status_code != 200:
            assert ready.status_code == 503
            await asyncio.sleep(0.2)
        accepted = await client.post(
            "/webhooks/trading-api", content=body, headers=signed(body, webhook_id=webhook_id)
        )
        assert accepted.status_code == 202, accepted.text
