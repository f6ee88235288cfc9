"""Settings every consuming service shares, from the same ``ZIXLY_*`` variables in every run mode."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from zixly_runtime.consumer import ConsumerOptions, RetryPolicy


class ConsumerSettings(BaseSettings):
    """Kafka consumer behaviour: group timing, retries, task bounds, shutdown and the watchdog."""

    #: Only checked between polls; the shell keeps polling while a task runs, so this is no task limit.
    kafka_max_poll_interval_ms: int = Field(default=300_000, ge=1_000)
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1_000)
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    #: attempts in total, the first delivery included; then the dead-letter topic
    consumer_retry_max_attempts: int = Field(default=6, ge=1, le=100)
    consumer_retry_initial_backoff_s: float = Field(default=1.0, gt=0)
    consumer_retry_max_backoff_s: float = Field(default=60.0, gt=0)
    #: a use case running longer than this fails (and is retried): tasks are bounded
    consumer_task_timeout_s: float = Field(default=300.0, gt=0)
    consumer_watchdog_interval_s: float = Field(default=5.0, gt=0)
    #: lag on unpaused partitions and no progress for this long → stalled (log, gauge, liveness 503)
    consumer_stall_after_s: float = Field(default=120.0, gt=0)
    #: SIGTERM: time for the in-flight message to finish before it is abandoned (then redelivered)
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    #: SIGTERM: bound on each stop (consumer leaving the group, producer), aiokafka #773 / #1101
    shutdown_stop_timeout_s: float = Field(default=10.0, gt=0)
    #: none, console or otlp (then the standard OTEL_EXPORTER_OTLP_* variables apply)
    otel_exporter: str = "none"

    def consumer_options(self, group_id: str, *, background: bool = False) -> ConsumerOptions:
        return ConsumerOptions(
            group_id=group_id,
            retry=RetryPolicy(
                max_attempts=self.consumer_retry_max_attempts,
                initial_backoff_s=self.consumer_retry_initial_backoff_s,
                max_backoff_s=self.consumer_retry_max_backoff_s,
            ),
            background=background,
            task_timeout_s=self.consumer_task_timeout_s,
            max_poll_interval_ms=self.kafka_max_poll_interval_ms,
            session_timeout_ms=self.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.kafka_heartbeat_interval_ms,
            watchdog_interval_s=self.consumer_watchdog_interval_s,
            stall_after_s=self.consumer_stall_after_s,
        )
