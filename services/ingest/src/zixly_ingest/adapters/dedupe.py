"""The dedupe record of every webhook id, in PostgreSQL: shared by every replica, kept across restarts.

One row per (source, webhook id), in ingest's own schema ``ingest`` (created at start-up with
``CREATE … IF NOT EXISTS`` under an advisory lock, so replicas starting together do not race; the
aggregator's migrations never see it). A delivery first *claims* the id with a lease, publishes, then
marks it published; a failed publish deletes the claim, so the sender's retry publishes again. A claim
whose holder died expires with its lease and the next delivery takes it over. Rows older than the
retention are purged in the background.

Every statement is one round trip with a timeout; any database trouble is ``DedupeUnavailable`` (503),
because without the record exactly-once cannot be promised. The pool connects in the background, so
ingest starts (not ready) while PostgreSQL is down and recovers by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import asyncpg
import structlog

from zixly_ingest.domain.errors import DedupeUnavailable
from zixly_ingest.service_layer.ports import (
    AlreadyPublished,
    BodyMismatch,
    ClaimResult,
    InProgress,
    Owned,
)

log = structlog.get_logger("zixly_ingest.dedupe")

_LOCK_ID = 0x7A69_786C_7969_6E67  # "zixlying": serializes the schema creation of concurrent replicas
SCHEMA = [
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
]
CLAIM = """
INSERT INTO ingest.deliveries AS d (source, webhook_id, body_sha256, claim_token, lease_until)
VALUES ($1, $2, $3, $4, clock_timestamp() + $5 * interval '1 second')
ON CONFLICT (source, webhook_id) DO UPDATE
    SET claim_token = excluded.claim_token, lease_until = excluded.lease_until
    WHERE d.published_at IS NULL
      AND d.lease_until < clock_timestamp()
      AND d.body_sha256 = excluded.body_sha256
RETURNING d.claim_token
"""
LOOK = """
SELECT published_at IS NOT NULL AS published,
       body_sha256 = $3 AS same_body,
       greatest(extract(epoch FROM lease_until - clock_timestamp()), 0)::float8 AS lease_left_s
FROM ingest.deliveries WHERE source = $1 AND webhook_id = $2
"""
MARK = """
UPDATE ingest.deliveries SET published_at = clock_timestamp()
WHERE source = $1 AND webhook_id = $2 AND claim_token = $3
"""
RELEASE = """
DELETE FROM ingest.deliveries
WHERE source = $1 AND webhook_id = $2 AND claim_token = $3 AND published_at IS NULL
"""
PURGE = """
DELETE FROM ingest.deliveries WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM ingest.deliveries
    WHERE first_seen < clock_timestamp() - $1 * interval '1 second'
      AND (published_at IS NOT NULL OR lease_until < clock_timestamp())
    LIMIT 5000))
"""
_TROUBLE = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://…`` (the SQLAlchemy form every service reads) → what asyncpg takes."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    return scheme.split("+", 1)[0] + sep + rest


class PostgresDedupeStore:
    def __init__(
        self,
        database_url: str,
        *,
        retry_after_s: int,
        query_timeout_s: float = 2.0,
        pool_size: int = 10,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._retry_after_s = retry_after_s
        self._timeout_s = query_timeout_s
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._supervisor: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._supervisor = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        delay = 0.25
        while True:
            try:
                pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=1,
                    max_size=self._pool_size,
                    timeout=5,
                    command_timeout=self._timeout_s * 2,
                )
                try:
                    async with pool.acquire() as conn, conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
                        for statement in SCHEMA:
                            await conn.execute(statement)
                except BaseException:
                    await pool.close()
                    raise
            except _TROUBLE as exc:
                log.warning("dedupe.connect_failed", error=f"{type(exc).__name__}: {exc}", retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._pool = pool
            log.info("dedupe.connected")
            return

    async def stop(self, timeout_s: float = 5.0) -> None:
        if self._supervisor is not None and not self._supervisor.done():
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=timeout_s)
            except TimeoutError:
                pool.terminate()

    def available(self) -> bool:
        return self._pool is not None

    async def _fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        pool = self._pool
        if pool is None:
            raise DedupeUnavailable(
                "the dedupe store (PostgreSQL) is not reachable yet; retry after the Retry-After seconds",
                self._retry_after_s,
            )
        try:
            return await pool.fetchrow(query, *args, timeout=self._timeout_s)
        except _TROUBLE as exc:
            raise DedupeUnavailable(
                f"the dedupe store (PostgreSQL) failed ({type(exc).__name__}); "
                "retry after the Retry-After seconds",
                self._retry_after_s,
            ) from exc

    async def claim(self, source: str, webhook_id: str, body_sha256: bytes, lease_s: float) -> ClaimResult:
        for _ in range(3):
            token = uuid.uuid4()
            row = await self._fetchrow(CLAIM, source, webhook_id, body_sha256, token, lease_s)
            if row is not None:
                return Owned(str(token))
            row = await self._fetchrow(LOOK, source, webhook_id, body_sha256)
            if row is None:
                continue  # released between the two statements: claim again
            if not row["same_body"]:
                return BodyMismatch()
            if row["published"]:
                return AlreadyPublished()
            return InProgress(retry_after_s=float(row["lease_left_s"]))
        return InProgress(retry_after_s=1.0)

    async def mark_published(self, source: str, webhook_id: str, token: str) -> None:
        await self._fetchrow(MARK, source, webhook_id, uuid.UUID(token))

    async def release(self, source: str, webhook_id: str, token: str) -> None:
        await self._fetchrow(RELEASE, source, webhook_id, uuid.UUID(token))

    async def ping(self, timeout_s: float) -> bool:
        pool = self._pool
        if pool is None:
            return False
        try:
            await pool.fetchval("SELECT 1", timeout=timeout_s)
        except _TROUBLE:
            return False
        return True

    async def purge(self, retention_s: float) -> int:
        pool = self._pool
        if pool is None:
            return 0
        purged = 0
        while True:
            status = await pool.execute(PURGE, retention_s, timeout=30)
            count = int(status.split()[-1])
            purged += count
            if count < 5000:
                return purged

    async def purge_forever(self, retention_s: float, every_s: float = 3600.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                purged = await self.purge(retention_s)
            except _TROUBLE as exc:
                log.warning("dedupe.purge_failed", error=f"{type(exc).__name__}: {exc}")
            else:
                if purged:
                    log.info("dedupe.purged", rows=purged)
