"""Why a webhook is refused, or must be retried. Each maps to one RFC 9457 problem type at the edges.

``Rejected`` is permanent: the same request will be refused again, so the sender must change it (4xx;
an SQS message stays for the queue's dead-letter redrive). ``TryLater`` is transient: nothing was
published, and the same request may succeed later (409/429/503 with ``Retry-After``; an SQS message
becomes visible again after ``retry_after_s``).
"""

from __future__ import annotations

from typing import Any, ClassVar


class Rejected(Exception):
    """A webhook the service will not accept; nothing of it is published."""

    #: Headers the answer carries besides the problem (what the sender may send instead).
    headers: ClassVar[dict[str, str]] = {}


class UnknownSource(Rejected):
    pass


class MalformedRequest(Rejected):
    """Missing or repeated headers, a body that is not UTF-8 or not JSON: a broken request."""


class UnsupportedMediaType(Rejected):
    pass


class UnsupportedContentEncoding(UnsupportedMediaType):
    """A body sent with a content coding: it is never decoded, so only ``identity`` is accepted."""

    #: RFC 9110 §15.5.16: a 415 for a content coding says which codings are accepted.
    headers: ClassVar[dict[str, str]] = {"Accept-Encoding": "identity"}


class BodyTooLarge(Rejected):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than this source's limit of {limit} bytes")
        self.limit = limit


class EventTooLarge(Rejected):
    """The broker refuses an event this big (its ``message.max.bytes``), however often it is sent."""


class InvalidSignature(Rejected):
    """No configured secret of the source signed this request (or the signature cannot be read)."""


class StaleTimestamp(InvalidSignature):
    """The signed timestamp is outside the tolerance window (replay protection)."""


class InvalidPayload(Rejected):
    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


class UnsupportedPayloadType(Rejected):
    pass


class SweepTooLarge(Rejected):
    def __init__(self, message: str, limits: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.limits = limits


class WebhookIdReused(Rejected):
    """The webhook id was already accepted with a different body."""


class TryLater(Exception):
    """Nothing was published; the same request may succeed after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))


class RateLimited(TryLater):
    pass


class DeliveryInProgress(TryLater):
    """Another delivery of the same webhook is being published right now (another request or replica)."""


class BrokerUnavailable(TryLater):
    """The broker did not acknowledge in time: the sender should retry (503)."""


class DedupeUnavailable(TryLater):
    """The dedupe store cannot be reached, so exactly-once cannot be promised: the sender should retry."""
