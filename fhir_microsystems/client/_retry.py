"""Retry policy: exponential backoff with full jitter, Retry-After, a bounded budget."""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime

from fhir_microsystems._errors import ConfigurationError

from ._outcome import RETRYABLE_STATUSES


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry temporary faults.

    ``max_attempts`` counts every try including the first; ``max_total_sleep`` bounds the
    seconds slept across all retries of one request. Backoff is full jitter:
    ``random() * min(max_delay, base_delay * 2 ** (retry - 1))``; a ``Retry-After`` header
    replaces it, capped at ``max_retry_after``. ``sleep``, ``random`` and ``clock`` are
    injectable so tests run instantly.
    """

    max_attempts: int = 6
    max_total_sleep: float = 120.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 60.0
    statuses: frozenset[int] = RETRYABLE_STATUSES
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("RetryPolicy.max_attempts must be at least 1")
        if min(self.max_total_sleep, self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise ConfigurationError("RetryPolicy delays must not be negative")

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        hinted = parse_retry_after(retry_after, now=self.clock()) if retry_after else None
        if hinted is not None:
            return min(hinted, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return self.random() * ceiling


def parse_retry_after(value: str, *, now: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date); None if unreadable."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


__all__ = ["RetryPolicy", "parse_retry_after"]
