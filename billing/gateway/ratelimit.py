"""A client-side rate limiter for Stripe calls: a token bucket shared by the threads of a
process, with backoff and retry on HTTP 429. It reports the time callers spent waiting."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings

logger = logging.getLogger(__name__)

T = TypeVar("T")


class RateLimiter:
    """A token bucket shared by every thread of the process, with backoff on HTTP 429.

    ``rate`` requests per second on average, ``burst`` at once; ``rate <= 0`` disables the
    bucket (429 backoff still applies). ``waited_seconds`` totals the time callers spent
    waiting (for tokens and in backoff), which the renewal run reports."""

    def __init__(
        self,
        *,
        rate: float = 0.0,
        burst: int | None = None,
        max_retries: int = 5,
        backoff_base: float = 0.25,
        backoff_max: float = 8.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else max(1, int(rate)))
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = threading.Lock()
        self.waited_seconds = 0.0
        self.throttled = 0  # 429 answers seen
        self.calls = 0

    def acquire(self) -> float:
        """Take one token, sleeping until one is free. Returns the seconds waited."""
        if self.rate <= 0:
            with self._lock:
                self.calls += 1
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0  # reserve now; a negative balance is a queue position
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            self.calls += 1
            self.waited_seconds += wait
        if wait > 0:
            self._sleep(wait)
        return wait

    def call(self, func: Callable[[], T], *, is_rate_limited: Callable[[Exception], bool]) -> T:
        """Run ``func`` under the limiter; on a rate-limit answer back off and run it again
        (the request was refused, so repeating it, with the same idempotency key, is safe)."""
        for attempt in itertools.count():
            self.acquire()
            try:
                return func()
            except Exception as exc:
                if not is_rate_limited(exc) or attempt >= self.max_retries:
                    raise
                delay = min(self.backoff_max, self.backoff_base * (2**attempt))
                with self._lock:
                    self.throttled += 1
                    self.waited_seconds += delay
                logger.info("Stripe rate limit hit; backing off %.2fs", delay)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def reset_stats(self) -> None:
        with self._lock:
            self.waited_seconds = 0.0
            self.throttled = 0
            self.calls = 0


def limiter_from_settings(api_key: str = "") -> RateLimiter:
    """``OMS_STRIPE_RATE_LIMIT`` requests/second (0 turns the bucket off); by default a
    margin under Stripe's documented limits: 25/s with a test key, 90/s with a live one."""
    configured = getattr(settings, "OMS_STRIPE_RATE_LIMIT", None)
    if configured is None:
        configured = 25 if (api_key or "").startswith(("sk_test", "rk_test")) else 90
    return RateLimiter(
        rate=float(configured),
        burst=getattr(settings, "OMS_STRIPE_RATE_BURST", None),
        max_retries=int(getattr(settings, "OMS_STRIPE_RATE_LIMIT_RETRIES", 5)),
    )
