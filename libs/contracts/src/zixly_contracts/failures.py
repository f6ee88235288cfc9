"""The header contract of retried and dead-lettered messages.

A message that failed travels on ``<topic>.retry`` or ``<topic>.dlq`` unchanged (same body, same key)
with these headers, so that whoever reads it later knows where it came from, how often it was tried,
what went wrong first and last, and when it may be tried again (README.md, "Delivery: retries, dead
letters, commits").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

ORIGINAL_TOPIC = "x-original-topic"
ORIGINAL_PARTITION = "x-original-partition"
ORIGINAL_OFFSET = "x-original-offset"
ORIGINAL_CE_ID = "x-original-ce-id"
ATTEMPTS = "x-attempts"
FIRST_ERROR_CLASS = "x-first-error-class"
FIRST_ERROR_MESSAGE = "x-first-error-message"
FIRST_FAILED_AT = "x-first-failed-at"
LAST_ERROR_CLASS = "x-last-error-class"
LAST_ERROR_MESSAGE = "x-last-error-message"
LAST_FAILED_AT = "x-last-failed-at"
NEXT_ATTEMPT_AT = "x-next-attempt-at"
#: Why a message is in a dead-letter topic: ``undecodable`` (poison) or ``retries-exhausted``.
DEAD_LETTER_REASON = "x-dead-letter-reason"
#: The same as the last error; kept so that simple tools can read one pair of headers.
ERROR_CLASS = "x-error-class"
ERROR_MESSAGE = "x-error-message"
#: Set on a message put back on its original topic by ``zixly dlq redrive``: ``<dlq topic>:<p>:<offset>``.
REDRIVEN_FROM = "x-redriven-from"

UNDECODABLE = "undecodable"
RETRIES_EXHAUSTED = "retries-exhausted"
MAX_ERROR_MESSAGE = 2000


def _text(value: str) -> str:
    return value[:MAX_ERROR_MESSAGE]


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Failure:
    """Where a failed message came from and how it failed so far."""

    original_topic: str
    original_partition: int
    original_offset: int
    original_ce_id: str | None
    attempts: int
    first_error_class: str
    first_error_message: str
    first_failed_at: datetime
    last_error_class: str
    last_error_message: str
    last_failed_at: datetime
    next_attempt_at: datetime | None = None
    reason: str | None = None

    @classmethod
    def first(
        cls,
        *,
        topic: str,
        partition: int,
        offset: int,
        ce_id: str | None,
        error: BaseException,
        at: datetime,
    ) -> Failure:
        return cls(
            original_topic=topic,
            original_partition=partition,
            original_offset=offset,
            original_ce_id=ce_id,
            attempts=1,
            first_error_class=type(error).__name__,
            first_error_message=_text(str(error)),
            first_failed_at=at,
            last_error_class=type(error).__name__,
            last_error_message=_text(str(error)),
            last_failed_at=at,
        )

    def again(self, error: BaseException, at: datetime) -> Failure:
        """This failure after one more failed attempt."""
        return replace(
            self,
            attempts=self.attempts + 1,
            last_error_class=type(error).__name__,
            last_error_message=_text(str(error)),
            last_failed_at=at,
            next_attempt_at=None,
        )

    def retry_after(self, delay_s: float) -> Failure:
        return replace(self, next_attempt_at=self.last_failed_at + timedelta(seconds=delay_s), reason=None)

    def dead(self, reason: str) -> Failure:
        return replace(self, next_attempt_at=None, reason=reason)

    def to_headers(self) -> dict[str, str]:
        headers = {
            ORIGINAL_TOPIC: self.original_topic,
            ORIGINAL_PARTITION: str(self.original_partition),
            ORIGINAL_OFFSET: str(self.original_offset),
            ATTEMPTS: str(self.attempts),
            FIRST_ERROR_CLASS: self.first_error_class,
            FIRST_ERROR_MESSAGE: self.first_error_message,
            FIRST_FAILED_AT: _time(self.first_failed_at),
            LAST_ERROR_CLASS: self.last_error_class,
            LAST_ERROR_MESSAGE: self.last_error_message,
            LAST_FAILED_AT: _time(self.last_failed_at),
            ERROR_CLASS: self.last_error_class,
            ERROR_MESSAGE: self.last_error_message,
        }
        if self.original_ce_id is not None:
            headers[ORIGINAL_CE_ID] = self.original_ce_id
        if self.next_attempt_at is not None:
            headers[NEXT_ATTEMPT_AT] = _time(self.next_attempt_at)
        if self.reason is not None:
            headers[DEAD_LETTER_REASON] = self.reason
        return headers

    @classmethod
    def from_headers(cls, headers: Mapping[str, str | bytes]) -> Failure | None:
        """The failure a message's headers describe; None if they describe none (a first delivery)."""

        def get(name: str) -> str | None:
            value = headers.get(name)
            return value.decode() if isinstance(value, bytes) else value

        topic = get(ORIGINAL_TOPIC)
        if topic is None:
            return None
        try:
            first_at = datetime.fromisoformat(get(FIRST_FAILED_AT) or "")
            last_at = datetime.fromisoformat(get(LAST_FAILED_AT) or get(FIRST_FAILED_AT) or "")
            next_at = get(NEXT_ATTEMPT_AT)
            return cls(
                original_topic=topic,
                original_partition=int(get(ORIGINAL_PARTITION) or -1),
                original_offset=int(get(ORIGINAL_OFFSET) or -1),
                original_ce_id=get(ORIGINAL_CE_ID),
                attempts=int(get(ATTEMPTS) or 1),
                first_error_class=get(FIRST_ERROR_CLASS) or get(ERROR_CLASS) or "",
                first_error_message=get(FIRST_ERROR_MESSAGE) or get(ERROR_MESSAGE) or "",
                first_failed_at=first_at,
                last_error_class=get(LAST_ERROR_CLASS) or get(ERROR_CLASS) or "",
                last_error_message=get(LAST_ERROR_MESSAGE) or get(ERROR_MESSAGE) or "",
                last_failed_at=last_at,
                next_attempt_at=datetime.fromisoformat(next_at) if next_at else None,
                reason=get(DEAD_LETTER_REASON),
            )
        except ValueError:
            return None


def base_topic(topic: str) -> str:
    """``backtests.tasks.retry`` → ``backtests.tasks``; other names unchanged."""
    for suffix in (".retry", ".dlq"):
        if topic.endswith(suffix):
            return topic[: -len(suffix)]
    return topic
