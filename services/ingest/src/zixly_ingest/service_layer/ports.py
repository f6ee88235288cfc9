"""What the ingest use case needs from the outside world."""

from __future__ import annotations

from typing import Any, Protocol

from zixly_contracts.envelope import Envelope


class SignatureVerifier(Protocol):
    def known_source(self, source: str) -> bool: ...

    def verify(self, source: str, body: str, headers: dict[str, str]) -> None:
        """Raise ``InvalidSignature`` unless a secret of ``source`` signed ``body``."""


class EventPublisher(Protocol):
    async def publish(self, topic: str, event: Envelope[Any], key: str) -> None:
        """Return only once the broker acknowledged the event (acks=all)."""
