"""The whole system on one machine, no Docker: embedded infrastructure + the four services as processes.

Every service runs as its own process with the same command and environment variables it has in a
container, so what runs here is what is deployed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from base64 import b64encode
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zixly.home_lock import only_stack_under
from zixly.infrastructure import (
    create_topics,
    free_port,
    load_datasets,
    port_open,
    port_taken,
    start_embedded_postgres,
    start_tansu,
)
from zixly.pipeline import INTERRUPTED_REASON, fail_interrupted_sweeps
from zixly.processes import ProcessGroup
from zixly.stack_env import port_from_env, replicas_from_env, webhook_secret_from_env
from zixly.stack_file import StackAddresses, remove_stack_file, stack_home, write_stack_file

REPO_DATA = Path(__file__).resolve().parents[2] / "data"
WEBHOOK_SOURCE = "cli"


@dataclass(frozen=True)
class StackConfig:
    home: Path
    kafka_port: int
    ingest_port: int
    dashboard_port: int
    backtester_replicas: int = 1
    database_url: str | None = None
    #: extra ``ZIXLY_*`` settings for every service (e.g. shorter Kafka session timeouts in tests)
    service_env: dict[str, str] = field(default_factory=dict)
    #: start the ingest and dashboard processes too (tests that only need the pipeline skip them)
    with_http: bool = True

    @classmethod
    def on_free_ports(cls, home: Path, **settings: Any) -> StackConfig:
        """A stack under ``home`` whose broker, ingest and dashboard take ports nobody uses now."""
        return cls(
            home=home, kafka_port=free_port(), ingest_port=free_port(), dashboard_port=free_port(), **settings
        )

    @classmethod
    def from_env(cls, *, ephemeral_ports: bool) -> StackConfig:
        """``ephemeral_ports`` picks free ports (the demo); otherwise the documented defaults (``up``).

        Raises ``ConfigurationError`` naming the first variable that holds something unusable.
        """

        def port(name: str, default: int) -> int:
            configured = port_from_env(name)
            if configured is not None:
                return configured
            return free_port() if ephemeral_ports else default

        webhook_secret_from_env()
        return cls(
            home=stack_home(),
            kafka_port=port("ZIXLY_KAFKA_PORT", 9092),
            ingest_port=port("ZIXLY_INGEST_PORT", 8080),
            dashboard_port=port("ZIXLY_DASHBOARD_PORT", 8000),
            backtester_replicas=replicas_from_env(),
            database_url=os.environ.get("ZIXLY_DATABASE_URL") or None,
        )


@dataclass(frozen=True)
class RunningStack:
    ingest_url: str
    dashboard_url: str
    webhook_source: str
    webhook_secret: str
    bootstrap_servers: str
    database_url: str
    objects_dir: Path
    processes: ProcessGroup


def webhook_secret(home: Path, *, create: bool = True) -> str:
    """The CLI source's secret: ``ZIXLY_WEBHOOK_SECRET`` or one generated once under ``ZIXLY_HOME``."""
    configured = webhook_secret_from_env()
    if configured:
        return configured
    path = home / "webhook-secret"
    if not path.exists():
        if not create:
            raise FileNotFoundError(
                f"no webhook secret at {path}: set ZIXLY_WEBHOOK_SECRET, or ZIXLY_HOME to the folder "
                "`zixly up` runs with"
            )
        home.mkdir(parents=True, exist_ok=True)
        path.write_text("whsec_" + b64encode(secrets.token_bytes(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


def _service(name: str) -> list[str]:
    return [str(Path(sys.executable).with_name(name))]


@contextmanager
def running_stack(config: StackConfig, echo: Callable[[str], None] = print) -> Iterator[RunningStack]:
    """Start everything, yield once every service is ready, stop everything on the way out.

    The broker keeps its topics in memory, while the read models persist: a sweep the read model still
    holds as in flight lost its tasks with the previous broker, so it is failed (one line each on
    ``echo``) before the stack is handed over.
    """
    with only_stack_under(config.home):
        yield from _run_stack(config, echo)


def _run_stack(config: StackConfig, echo: Callable[[str], None]) -> Iterator[RunningStack]:
    for variable, port in (
        ("ZIXLY_INGEST_PORT", config.ingest_port),
        ("ZIXLY_DASHBOARD_PORT", config.dashboard_port),
    ):
        if port_open("127.0.0.1", port):
            raise RuntimeError(port_taken(port, variable))
    group = ProcessGroup(config.home / "logs")
    try:
        start_tansu(group, config.kafka_port)
        bootstrap = f"127.0.0.1:{config.kafka_port}"
        asyncio.run(create_topics(bootstrap))
        database_url = config.database_url or start_embedded_postgres(config.home / "pgdata", echo=echo)
        objects_dir = config.home / "objects"
        load_datasets(REPO_DATA, objects_dir)
        secret = webhook_secret(config.home)
        env = {
            "ZIXLY_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "ZIXLY_KAFKA_ENABLE_IDEMPOTENCE": "false",
            "ZIXLY_DATABASE_URL": database_url,
            "ZIXLY_OBJECT_STORE_URL": objects_dir.as_uri(),
            "ZIXLY_WEBHOOK_SECRETS": f'{{"{WEBHOOK_SOURCE}": ["{secret}"]}}',
            "ZIXLY_INGEST_PORT": str(config.ingest_port),
            "ZIXLY_DASHBOARD_PORT": str(config.dashboard_port),
            "NUMBA_CACHE_DIR": str(config.home / "numba-cache"),
            **config.service_env,
        }
        for owner in ("zixly-aggregator", "zixly-ingest"):  # the services that own a schema
            migrate = group.start(f"{owner}-migrate", [*_service(owner), "migrate"], env)
            if migrate.process.wait(timeout=120) != 0:
                raise RuntimeError(f"the database migration of {owner} failed:\n{migrate.tail()}")
            group.children.remove(migrate)

        agg_port = free_port()
        starting = [
            group.start(
                "aggregator",
                [*_service("zixly-aggregator"), "run"],
                {**env, "ZIXLY_AGGREGATOR_HTTP_PORT": str(agg_port)},
                health_url=f"http://127.0.0.1:{agg_port}/readyz",
            ),
        ]
        for replica in range(config.backtester_replicas):
            port = free_port()
            starting.append(
                group.start(
                    f"backtester-{replica + 1}",
                    _service("zixly-backtester"),
                    {**env, "ZIXLY_BACKTESTER_HTTP_PORT": str(port)},
                    health_url=f"http://127.0.0.1:{port}/readyz",
                )
            )
        if config.with_http:
            starting += [
                group.start(
                    "ingest",
                    _service("zixly-ingest"),
                    env,
                    health_url=f"http://127.0.0.1:{config.ingest_port}/readyz",
                ),
                group.start(
                    "dashboard-api",
                    _service("zixly-dashboard-api"),
                    env,
                    health_url=f"http://127.0.0.1:{config.dashboard_port}/readyz",
                ),
            ]
        for child in starting:
            group.wait_healthy(child)
        schema = env.get("ZIXLY_DATABASE_SCHEMA") or os.environ.get("ZIXLY_DATABASE_SCHEMA") or "public"
        for sweep_id in asyncio.run(fail_interrupted_sweeps(bootstrap, database_url, schema)):
            echo(f"sweep {sweep_id} was in flight when the stack last stopped: failed ({INTERRUPTED_REASON})")
        stack = RunningStack(
            ingest_url=f"http://127.0.0.1:{config.ingest_port}",
            dashboard_url=f"http://127.0.0.1:{config.dashboard_port}",
            webhook_source=WEBHOOK_SOURCE,
            webhook_secret=secret,
            bootstrap_servers=bootstrap,
            database_url=database_url,
            objects_dir=objects_dir,
            processes=group,
        )
        write_stack_file(
            config.home,
            StackAddresses(stack.ingest_url, stack.dashboard_url, bootstrap, database_url, pid=os.getpid()),
        )
        yield stack
    finally:
        remove_stack_file(config.home)
        group.stop()
