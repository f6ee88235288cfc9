"""Fixtures of the failure tests: a private PostgreSQL, settings that make failures visible quickly."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from zixly.infrastructure import PrivatePostgres

#: Settings every service of these tests gets: a dead member is noticed in seconds, retries come fast.
FAST_FAILOVER = {
    "ZIXLY_KAFKA_SESSION_TIMEOUT_MS": "6000",
    "ZIXLY_KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
    "ZIXLY_CONSUMER_RETRY_INITIAL_BACKOFF_S": "1.0",
    "ZIXLY_CONSUMER_WATCHDOG_INTERVAL_S": "2.0",
    "ZIXLY_SHUTDOWN_GRACE_S": "5",
    "ZIXLY_LOG_LEVEL": "INFO",
}


@pytest.fixture(scope="session")
def fast_failover() -> dict[str, str]:
    return dict(FAST_FAILOVER)


@pytest.fixture(scope="session")
def kill_runs() -> int:
    """How many kill -9 runs the replica test makes: ZIXLY_RELIABILITY_KILL_RUNS (3; 20: full check)."""
    return int(os.environ.get("ZIXLY_RELIABILITY_KILL_RUNS", "3"))


@pytest.fixture(scope="module")
def private_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostgres]:
    """A PostgreSQL server for this module alone: tests may stop and start it."""
    server = PrivatePostgres(tmp_path_factory.mktemp("private-pg"))
    try:
        yield server
    finally:
        try:
            server.stop()
        except Exception:  # noqa: BLE001, S110 - already stopped
            pass
