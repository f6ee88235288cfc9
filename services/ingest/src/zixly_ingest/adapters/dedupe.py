"""The dedupe record of every webhook id, in PostgreSQL: shared by every replica, kept across restarts.

One row per (source, webhook id), in ingest's own schema ``ingest``, which ``zixly-ingest migrate``
creates (Alembic, ``zixly_ingest/migrations``); the aggregator's migrations never see it. Until the
table exists ingest is not ready and says so. A delivery first *claims* the id with a lease, publishes, then
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
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

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

NOT_CONNECTED = "the dedupe store (PostgreSQL) does not answer"
NOT_MIGRATED = "the dedupe table ingest.deliveries does not exist: run `zixly-ingest migrate`"
#: Claims many webhook ids in one statement (one commit for the batch) and says, for each, whether it
#: is now ours or what the existing record says. The final SELECT sees the table as it was before the
#: INSERT (a CTE's snapshot), i.e. the record that stopped us.
CLAIM = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::uuid[])
        AS i(source, webhook_id, body_sha256, claim_token)
),
claimed AS (
    INSERT INTO ingest.deliveries AS d (source, webhook_id, body_sha256, claim_token, lease_until)
    SELECT source, webhook_id, body_sha256, claim_token, clock_timestamp() + $5 * interval '1 second'
    FROM input ORDER BY source, webhook_id
    ON CONFLICT (source, webhook_id) DO UPDATE
        SET claim_token = excluded.claim_token, lease_until = excluded.lease_until
        WHERE d.published_at IS NULL
          AND d.lease_until < clock_timestamp()
          AND d.body_sha256 = excluded.body_sha256
    RETURNING d.source, d.webhook_id
)
SELECT i.source, i.webhook_id,
       c.webhook_id IS NOT NULL AS owned,
       d.webhook_id IS NOT NULL AS existed,
       d.published_at IS NOT NULL AS published,
       d.body_sha256 = i.body_sha256 AS same_body,
       greatest(extract(epoch FROM d.lease_until - clock_timestamp()), 0)::float8 AS lease_left_s
FROM input i
LEFT JOIN claimed c ON c.source = i.source AND c.webhook_id = i.webhook_id
LEFT JOIN ingest.deliveries d ON d.source = i.source AND d.webhook_id = i.webhook_id
"""
MARK = """
UPDATE ingest.deliveries AS d SET published_at = clock_timestamp()
FROM unnest($1::text[], $2::text[], $3::uuid[]) AS m(source, webhook_id, claim_token)
WHERE d.source = m.source AND d.webhook_id = m.webhook_id AND d.claim_token = m.claim_token
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
#: Plan every statement for its actual batch and table size. A cached generic plan is made once, for a
#: table as small as it was then (joins through a sequential scan), and the table only grows since: every
#: batch would scan the whole retention window.
PLANNING = {"plan_cache_mode": "force_custom_plan"}
_TROUBLE = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://…`` (the SQLAlchemy form every service reads) → what asyncpg takes."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    return scheme.split("+", 1)[0] + sep + rest


async def _no_reset(_: asyncpg.Connection) -> None:
    """Our statements leave no session state: skip asyncpg's reset query (a round trip per release)."""


Key = tuple[str, str]
ClaimArgs = tuple[str, str, bytes, uuid.UUID, float]
MarkArgs = tuple[str, str, uuid.UUID]
T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Runs one statement for many callers. While ``max_in_flight`` statements are out, new requests
    wait and go together in the next one: no added delay when idle, one commit per batch under load."""

    def __init__(
        self, run: Callable[[list[T]], Awaitable[list[R]]], *, max_in_flight: int = 2, max_batch: int = 500
    ) -> None:
        self._run = run
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._kick()
        return await future

    def _kick(self) -> None:
        while self._waiting and self._in_flight < self._max_in_flight:
            batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
            self._in_flight += 1
            task = asyncio.ensure_future(self._flush(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self._in_flight -= 1
            self._kick()


class SchemaMissing(Exception):
    pass


class PostgresDedupeStore:
    def __init__(
        self,
        database_url: str,
        *,
        retry_after_s: int,
        query_timeout_s: float = 2.0,
        pool_size: int = 4,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._retry_after_s = retry_after_s
        self._timeout_s = query_timeout_s
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        #: Marks go through connections with ``synchronous_commit = off``: see ``mark_published``.
        self._mark_pool: asyncpg.Pool | None = None
        self._supervisor: asyncio.Task[None] | None = None
        #: Why there is no pool yet: the database does not answer, or its schema is not migrated.
        self._waiting_for = NOT_CONNECTED
        self._claims: Batcher[ClaimArgs, ClaimResult] = Batcher(self._claim_batch, max_in_flight=2)
        self._marks: Batcher[MarkArgs, None] = Batcher(self._mark_batch, max_in_flight=2)
        #: Webhook ids this process is claiming right now: one claim per id per statement.
        self._claiming: dict[Key, asyncio.Future[None]] = {}

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
                    reset=_no_reset,
                    server_settings=PLANNING,
                )
                try:
                    if await pool.fetchval("SELECT to_regclass('ingest.deliveries')") is None:
                        raise SchemaMissing(NOT_MIGRATED)
                    mark_pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=1,
                        max_size=3,
                        timeout=5,
                        command_timeout=self._timeout_s * 2,
                        reset=_no_reset,
                        server_settings={**PLANNING, "synchronous_commit": "off"},
                    )
                except BaseException:
                    await pool.close()
                    raise
            except (SchemaMissing, *_TROUBLE) as exc:
                self._waiting_for = NOT_MIGRATED if isinstance(exc, SchemaMissing) else NOT_CONNECTED
                log.warning(
                    "dedupe.connect_failed",
                    problem=self._waiting_for,
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in_s=delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._pool, self._mark_pool = pool, mark_pool
            log.info("dedupe.connected")
            return

    async def stop(self, timeout_s: float = 5.0) -> None:
        if self._supervisor is not None and not self._supervisor.done():
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        pools = [p for p in (self._pool, self._mark_pool) if p is not None]
        self._pool = self._mark_pool = None
        for pool in pools:
            try:
                await asyncio.wait_for(pool.close(), timeout=timeout_s)
            except TimeoutError:
                pool.terminate()

    def available(self) -> bool:
        return self._pool is not None

    def _unavailable(self, exc: BaseException | None = None) -> DedupeUnavailable:
        if exc is None:
            return DedupeUnavailable(
                f"{self._waiting_for}; retry after the Retry-After seconds", self._retry_after_s
            )
        return DedupeUnavailable(
            f"the dedupe store (PostgreSQL) failed ({type(exc).__name__}); "
            "retry after the Retry-After seconds",
            self._retry_after_s,
        )

    async def _fetch(self, query: str, *args: Any, pool: asyncpg.Pool | None = None) -> list[asyncpg.Record]:
        pool = pool or self._pool
        if pool is None:
            raise self._unavailable()
        try:
            return await pool.fetch(query, *args, timeout=self._timeout_s)
        except _TROUBLE as exc:
            raise self._unavailable(exc) from exc

    async def _claim_batch(self, batch: list[ClaimArgs]) -> list[ClaimResult]:
        rows = await self._fetch(
            CLAIM,
            [b[0] for b in batch],
            [b[1] for b in batch],
            [b[2] for b in batch],
            [b[3] for b in batch],
            max(b[4] for b in batch),
        )
        by_key = {(row["source"], row["webhook_id"]): row for row in rows}
        results: list[ClaimResult] = []
        for source, webhook_id, _, token, _ in batch:
            row = by_key[(source, webhook_id)]
            if row["owned"]:
                results.append(Owned(str(token)))
            elif not row["existed"]:
                results.append(InProgress(retry_after_s=1.0))  # claimed by another replica just now
            elif not row["same_body"]:
                results.append(BodyMismatch())
            elif row["published"]:
                results.append(AlreadyPublished())
            else:
                results.append(InProgress(retry_after_s=float(row["lease_left_s"])))
        return results

    async def _mark_batch(self, batch: list[MarkArgs]) -> list[None]:
        await self._fetch(
            MARK, [b[0] for b in batch], [b[1] for b in batch], [b[2] for b in batch], pool=self._mark_pool
        )
        return [None] * len(batch)

    async def claim(self, source: str, webhook_id: str, body_sha256: bytes, lease_s: float) -> ClaimResult:
        key = (source, webhook_id)
        while (ongoing := self._claiming.get(key)) is not None:
            await asyncio.shield(ongoing)  # the same id twice in this process: one after the other
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._claiming[key] = done
        try:
            return await self._claims.submit((source, webhook_id, body_sha256, uuid.uuid4(), lease_s))
        finally:
            del self._claiming[key]
            done.set_result(None)

    async def mark_published(self, source: str, webhook_id: str, token: str) -> None:
        """Committed without waiting for the WAL flush: the claim before the publish is the durable
        write. Only a crash of PostgreSQL itself can lose the last moment's marks; such a webhook stays
        claimed until its lease ends, and a redelivery after that republishes it under the same event
        ids, which every consumer absorbs. Ingest restarts lose nothing."""
        await self._marks.submit((source, webhook_id, uuid.UUID(token)))

    async def release(self, source: str, webhook_id: str, token: str) -> None:
        await self._fetch(RELEASE, source, webhook_id, uuid.UUID(token))

    async def problem(self, timeout_s: float) -> str | None:
        """What keeps the store from serving, or None when it answers."""
        pool = self._pool
        if pool is None:
            return self._waiting_for
        try:
            await pool.fetchval("SELECT 1", timeout=timeout_s)
        except _TROUBLE:
            return NOT_CONNECTED
        return None

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
