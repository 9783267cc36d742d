"""In-memory sliding-window rate limiter for unauthenticated entry points (login, enrollment).

Each key (e.g. ``ip:203.0.113.7``, ``user:ops@acme.example``) may make at most `limit` attempts in any
`window_s` seconds. State lives in this process only: a restart forgets it, and several processes each keep
their own counts. Memory is bounded: keys idle for a whole window are dropped, and beyond `max_keys` the
least recently used key is forgotten.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

DEFAULT_MAX_KEYS = 100_000


class RateLimited(Exception):
    """Too many attempts; `retry_after` is the whole number of seconds until the next one is allowed."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many attempts; retry in {retry_after} s")
        self.retry_after = retry_after


class RateLimiter:
    """Count attempts per key; refuse an attempt once any of its keys is at the limit."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("limit and max_keys must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._max_keys = max_keys
        self._clock = clock
        # Times of each key's latest `limit` attempts, least recently used key first.
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()

    def attempt(self, *keys: str) -> None:
        """Record one attempt under every key, or raise RateLimited (recording nothing) if any is at the limit."""
        now = self._clock()
        self._forget_idle(now)
        wait = max((self._wait(key, now) for key in keys), default=0.0)
        if wait > 0:
            raise RateLimited(max(1, math.ceil(wait)))
        for key in keys:
            stamps = self._attempts.pop(key, None) or deque(maxlen=self.limit)
            stamps.append(now)
            self._attempts[key] = stamps
        while len(self._attempts) > self._max_keys:
            self._attempts.popitem(last=False)

    def reset(self, key: str) -> None:
        """Forget the attempts of `key` (e.g. after a successful login)."""
        self._attempts.pop(key, None)

    def __len__(self) -> int:
        """Number of keys currently tracked."""
        return len(self._attempts)

    def _wait(self, key: str, now: float) -> float:
        stamps = self._attempts.get(key)
        if stamps is None or len(stamps) < self.limit:
            return 0.0
        # The deque holds the latest `limit` attempts: the next is allowed once the oldest leaves the window.
        return stamps[0] + self.window_s - now

    def _forget_idle(self, now: float) -> None:
        while self._attempts:
            key, stamps = next(iter(self._attempts.items()))
            if stamps[-1] + self.window_s > now:
                return
            del self._attempts[key]
