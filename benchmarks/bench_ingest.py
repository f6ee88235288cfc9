"""Ingest benchmark: signed sweep webhooks over loopback at rising concurrency, then the events counted.

    uv run python benchmarks/bench_ingest.py                              # concurrency 1, 8, 32, 64
    uv run python benchmarks/bench_ingest.py --concurrency 16,64 --requests 5000

Starts what production runs: a Tansu broker (the embedded stack's Kafka), PostgreSQL (``ZIXLY_DATABASE_URL``,
else the server on 127.0.0.1:5432 with a fresh database, else embedded PostgreSQL) and ``zixly-ingest`` as
its own process (after ``zixly-ingest migrate``), publishing with acks=all and a dedupe record per
webhook id. Each level sends ``--requests`` webhooks, each with a new webhook id and signed beforehand
(as a sender would, with keep-alive connections, one per concurrent sender), through a minimal HTTP/1.1
client that costs the shared CPU as little as possible. Afterwards the ``SweepRequested`` events of the
level are counted on ``sweeps.requested``.

Prints one JSON object per level:
``{"concurrency", "requests", "seconds", "rps", "p50_ms", "p99_ms", "errors", "events"}`` where ``rps``
counts accepted (202) webhooks per second, ``errors`` every other answer or failure, ``events`` the
``SweepRequested`` of that level found on the topic (it should equal the accepted requests).

This is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "bench"
SPEC = json.loads((ROOT / "examples" / "demo-sweep.json").read_text())


def line(**values: object) -> None:
    print(json.dumps(values), flush=True)


# --- infrastructure -----------------------------------------------------------------------------------


def database(stack: ExitStack, workdir: Path) -> str:
    import asyncpg

    from zixly.infrastructure import port_open, start_embedded_postgres

    configured = os.environ.get("ZIXLY_DATABASE_URL")
    if configured:
        return configured
    if not port_open("127.0.0.1", 5432):
        return start_embedded_postgres(workdir / "pgdata", database="zixly_bench")
    name = f"zixly_bench_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    stack.callback(lambda: asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)')))
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def start_ingest(stack: ExitStack, workdir: Path, secret: str, log_level: str) -> tuple[str, int]:
    import httpx

    from zixly.infrastructure import create_topics, free_port, start_tansu
    from zixly.processes import ProcessGroup

    group = ProcessGroup(workdir / "logs")
    stack.callback(group.stop)
    kafka_port, ingest_port = free_port(), free_port()
    start_tansu(group, kafka_port)
    bootstrap = f"127.0.0.1:{kafka_port}"
    asyncio.run(create_topics(bootstrap))
    sources = {SOURCE: {"secrets": [secret], "rate_per_second": 1e9, "rate_burst": 10**9}}
    env = {
        "ZIXLY_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ZIXLY_KAFKA_ENABLE_IDEMPOTENCE": "false",
        "ZIXLY_DATABASE_URL": database(stack, workdir),
        "ZIXLY_INGEST_SOURCES": json.dumps(sources),
        "ZIXLY_INGEST_PORT": str(ingest_port),
        "ZIXLY_LOG_LEVEL": log_level,
    }
    command = str(Path(sys.executable).with_name("zixly-ingest"))
    migrate = group.start("ingest-migrate", [command, "migrate"], env)
    if migrate.process.wait(timeout=120) != 0:
        raise RuntimeError(f"zixly-ingest migrate failed:\n{migrate.tail()}")
    group.children.remove(migrate)
    ingest = group.start("ingest", [command], env)
    deadline = time.monotonic() + 60
    while True:
        if not ingest.alive():
            raise RuntimeError(f"zixly-ingest exited:\n{ingest.tail()}")
        try:
            if httpx.get(f"http://127.0.0.1:{ingest_port}/readyz", timeout=2).status_code == 200:
                return bootstrap, ingest_port
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"zixly-ingest was not ready:\n{ingest.tail()}")
        time.sleep(0.2)


# --- load -----------------------------------------------------------------------------------------------


def signed_request(port: int, key: bytes, webhook_id: str) -> bytes:
    body = json.dumps({"type": "sweep.requested", "data": {**SPEC, "name": webhook_id}}).encode()
    timestamp = str(int(time.time()))
    mac = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    head = (
        f"POST /webhooks/{SOURCE} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"webhook-id: {webhook_id}\r\n"
        f"webhook-timestamp: {timestamp}\r\n"
        f"webhook-signature: v1,{base64.b64encode(mac).decode()}\r\n"
        "\r\n"
    )
    return head.encode() + body


async def send_all(port: int, requests: list[bytes], concurrency: int) -> tuple[list[float], Counter[str]]:
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    pending = iter(requests)

    async def sender() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for request in pending:
                started = time.perf_counter()
                try:
                    writer.write(request)
                    status = int((await reader.readline()).split(b" ", 2)[1])
                    length, close = 0, False
                    while (header := await reader.readline()) not in (b"\r\n", b""):
                        name, _, value = header.partition(b":")
                        if name.lower() == b"content-length":
                            length = int(value)
                        elif name.lower() == b"connection" and value.strip().lower() == b"close":
                            close = True
                    await reader.readexactly(length)
                except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
                    outcomes[type(exc).__name__] += 1
                    close = True
                else:
                    latencies.append(time.perf_counter() - started)
                    outcomes[str(status)] += 1
                if close:
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
        finally:
            writer.close()

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return latencies, outcomes


async def count_events(bootstrap: str, prefixes: list[str]) -> Counter[str]:
    """``SweepRequested`` per webhook id prefix, read from the start of ``sweeps.requested`` to its end."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from zixly_contracts.topics import SWEEPS_REQUESTED

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    counts: Counter[str] = Counter()
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(SWEEPS_REQUESTED, p) for p in consumer.partitions_for_topic(SWEEPS_REQUESTED)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = set(partitions)
        while remaining:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for messages in batches.values():
                for message in messages:
                    webhook_id = json.loads(message.value)["correlation_id"]
                    counts[next((p for p in prefixes if webhook_id.startswith(p)), "other")] += 1
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return counts


def run_level(port: int, key: bytes, concurrency: int, requests: int, prefix: str) -> dict[str, object]:
    batch = [signed_request(port, key, f"{prefix}{n:07d}") for n in range(requests)]
    started = time.perf_counter()
    latencies, outcomes = asyncio.run(send_all(port, batch, concurrency))
    seconds = time.perf_counter() - started
    accepted = outcomes.get("202", 0)
    ordered = sorted(latencies)

    def quantile(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else 0.0

    return {
        "concurrency": concurrency,
        "requests": requests,
        "seconds": round(seconds, 3),
        "rps": round(accepted / seconds, 1),
        "p50_ms": round(1000 * statistics.median(ordered), 2) if ordered else 0.0,
        "p99_ms": quantile(0.99),
        "errors": requests - accepted,
        "outcomes": {k: v for k, v in outcomes.items() if k != "202"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", default="1,8,32,64", help="comma-separated levels")
    parser.add_argument("--requests", type=int, default=3000, help="webhooks per level")
    parser.add_argument("--warmup", type=int, default=500, help="webhooks sent (and not reported) first")
    parser.add_argument("--log-level", default="INFO", help="ingest's ZIXLY_LOG_LEVEL")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    key = secrets.token_bytes(32)
    secret = "whsec_" + base64.b64encode(key).decode()
    run = uuid.uuid4().hex[:8]
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zixly-bench-ingest-")))
        bootstrap, port = start_ingest(stack, workdir, secret, args.log_level)
        if args.warmup:
            run_level(port, key, max(levels), args.warmup, f"warm_{run}_")
        results = []
        for concurrency in levels:
            prefix = f"c{concurrency}_{run}_"
            results.append((prefix, run_level(port, key, concurrency, args.requests, prefix)))
        events = asyncio.run(count_events(bootstrap, [prefix for prefix, _ in results]))
        for prefix, result in results:
            outcomes = result.pop("outcomes")
            line(**result, events=events.get(prefix, 0), **({"refused": outcomes} if outcomes else {}))


if __name__ == "__main__":
    main()
