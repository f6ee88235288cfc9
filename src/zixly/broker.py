"""Asking the broker once, so that a command that needs it says at once when it cannot be reached."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer


async def check_reachable(bootstrap_servers: str) -> None:
    """Raise ``KafkaConnectionError`` when no broker answers at ``bootstrap_servers``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers)
    try:
        await consumer.start()
    finally:
        await consumer.stop()
