"""Retry delays: exponential backoff with full jitter, and a jittered heartbeat interval.

Pure: the caller passes its own `random.Random`, so tests can seed it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

DEFAULT_BASE_S = 1.0
DEFAULT_CAP_S = 60.0
HEARTBEAT_JITTER = 0.10


@dataclass(frozen=True)
class Backoff:
    """Delays for retry `attempt` (0 = first retry): uniform in [0, min(cap, base * 2**attempt)].

    Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter") spreads
    a crowd of agents that lost the server at the same moment.
    """

    base_s: float = DEFAULT_BASE_S
    cap_s: float = DEFAULT_CAP_S

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.cap_s < self.base_s:
            raise ValueError("backoff needs 0 < base_s <= cap_s")

    def ceiling(self, attempt: int) -> float:
        """The largest delay `attempt` may draw."""
        if attempt < 0:
            raise ValueError("attempt must be 0 or more")
        # 2**attempt overflows a float past ~1024; the cap is reached far earlier.
        if attempt >= 64:
            return self.cap_s
        return min(self.cap_s, self.base_s * (2 ** attempt))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """A delay for retry `attempt`, drawn with full jitter."""
        return rng.uniform(0.0, self.ceiling(attempt))


def backoff_delay(attempt: int, rng: random.Random, *, base_s: float = DEFAULT_BASE_S,
                  cap_s: float = DEFAULT_CAP_S) -> float:
    """Shorthand for `Backoff(base_s, cap_s).delay(attempt, rng)`."""
    return Backoff(base_s, cap_s).delay(attempt, rng)


def heartbeat_delay(interval_s: float, rng: random.Random,
                    jitter: float = HEARTBEAT_JITTER) -> float:
    """`interval_s` give or take `jitter` (10 %), so heartbeats of many agents spread out."""
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    return interval_s * rng.uniform(1.0 - jitter, 1.0 + jitter)
