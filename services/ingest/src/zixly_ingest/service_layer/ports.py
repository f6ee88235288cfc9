"""What the ingest use case needs from the outside world."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from zixly_contracts.envelope import Envelope
from zixly_ingest.domain.model import Headers
from zixly_ingest.domain.sources import Source


@dataclass(frozen=True)
class Verified:
    """A request whose signature one of the source's secrets made."""

    webhook_id: str
    body: str
    #: The payload type, for schemes that carry it in a header (GitHub's ``X-GitHub-Event``).
    type_from_header: str | None = None


class WebhookVerifier(Protocol):
    def verify(self, source: Source, raw_body: bytes, headers: Headers, now: float) -> Verified:
        """Check the signature over the raw bytes; raise ``Rejected`` (400/401) unless it holds.

        ``now`` is the receiver's clock in epoch seconds (for an SQS message: when it was enqueued).
        """


@dataclass(frozen=True)
class OutgoingEvent:
    topic: str
    key: str
    event: Envelope[Any]


class EventPublisher(Protocol):
    def available(self) -> bool:
        """Whether the producer is connected at all (a cheap check, no I/O)."""

    def publish(self, events: Sequence[OutgoingEvent]) -> Awaitable[None]:
        """Hand ``events`` to the broker, in order; return what completes once every one is acknowledged.

        The returned awaitable runs on its own (awaiting it with a timeout does not stop the sending) and
        always settles: it raises ``BrokerUnavailable`` if any event was not acknowledged (acks=all).
        Raises ``BrokerUnavailable`` at once when not connected: then nothing was handed over.
        """


@dataclass(frozen=True)
class Owned:
    """This delivery holds the claim on the webhook id until it publishes or releases it."""

    token: str


@dataclass(frozen=True)
class AlreadyPublished:
    pass


@dataclass(frozen=True)
class InProgress:
    """Another delivery holds an unexpired claim (another request or replica is publishing)."""

    retry_after_s: float


@dataclass(frozen=True)
class BodyMismatch:
    """The webhook id was claimed for a different body."""


ClaimResult = Owned | AlreadyPublished | InProgress | BodyMismatch


class DedupeStore(Protocol):
    """Durable, shared by every replica: one record per (source, webhook id)."""

    def available(self) -> bool: ...

    async def claim(self, source: str, webhook_id: str, body_sha256: bytes, lease_s: float) -> ClaimResult:
        """Claim the webhook id for publishing, or say why not. Raise ``DedupeUnavailable`` on trouble."""

    async def mark_published(self, source: str, webhook_id: str, token: str) -> None: ...

    async def release(self, source: str, webhook_id: str, token: str) -> None:
        """Forget an unpublished claim, so that the sender's retry publishes."""


@dataclass(frozen=True)
class QueuedMessage:
    """A webhook relayed through a queue: its raw body and its HTTP headers as message attributes."""

    message_id: str
    receipt_handle: str
    body: str
    #: Message attributes, names in lower case: the webhook's HTTP headers.
    attributes: dict[str, str]
    #: When the message entered the queue (epoch seconds), if the queue says.
    sent_at: float | None
    receive_count: int = 1


class MessageQueue(Protocol):
    url: str

    async def receive(self, max_messages: int, wait_s: int) -> list[QueuedMessage]: ...

    async def delete(self, messages: Sequence[QueuedMessage]) -> None:
        """Delete messages whose events are published (or that were duplicates)."""

    async def retry_later(self, message: QueuedMessage, delay_s: int) -> None:
        """Make a message visible again after ``delay_s`` (a transient failure)."""
