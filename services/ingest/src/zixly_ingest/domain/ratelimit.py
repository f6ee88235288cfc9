"""Per-source token buckets: ``rate`` requests per second on average, bursts of up to ``burst``."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float
    burst: int
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, now: float) -> float:
        """Take one token; return 0 if there was one, else the seconds until there will be."""
        if self.tokens < 0:
            self.tokens, self.updated = float(self.burst), now
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


def retry_after_seconds(wait: float) -> int:
    """``Retry-After`` is whole seconds: round up, never 0."""
    return max(1, math.ceil(wait))
