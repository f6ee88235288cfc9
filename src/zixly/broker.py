"""Asking the broker once, so that a command that needs it says at once when it cannot be reached."""

from __future__ import annotations

from aiokafka.client import AIOKafkaClient


async def check_reachable(bootstrap_servers: str) -> None:
    """Raise ``KafkaConnectionError`` when no broker answers at ``bootstrap_servers``.

    A bare client's metadata request, not a consumer: a consumer stopped right after it started can
    raise ``CancelledError`` from its fetcher task.
    """
    client = AIOKafkaClient(bootstrap_servers=bootstrap_servers)
    try:
        await client.bootstrap()
    finally:
        await client.close()
