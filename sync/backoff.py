"""Retry delays of the sync agent: exponential, capped, jittered within the cap, reset by any success."""

from __future__ import annotations

import random


class Backoff:
    """Counts consecutive failures and turns them into the next delay.

    Jitter spreads sites that fail together (a cloud restart) without ever passing the cap: the delay is drawn
    from [(1 - jitter) * d, d] where d = min(cap, base * 2**failures). A success anywhere (one batch) resets the
    count, so a transient error during a long catch-up waits the base delay, not the maximum.
    """

    def __init__(self, base_s: float, cap_s: float, jitter: float = 0.25, rng: random.Random | None = None) -> None:
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self.base_s = base_s
        self.cap_s = max(cap_s, base_s)
        self.jitter = jitter
        self._rng = rng or random.Random()
        self.failures = 0

    def failed(self) -> float:
        """Count a failure; return how long to wait before the next attempt."""
        self.failures += 1
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(self.failures, 30))
        return ceiling * self._rng.uniform(1 - self.jitter, 1.0)

    def succeeded(self) -> None:
        """Forget past failures."""
        self.failures = 0
