"""One pacer shared by every worker thread: request *starts* evenly spaced, never a burst.

Each thread reserves the next free slot on a fixed timeline under a lock, then sleeps until it. Slots are
:data:`HEADROOM` wider than ``1/rate``; the first ``ramp_slots`` (the client passes its worker count, at most
:data:`RAMP_SLOTS`) are twice as wide, since their requests also open the connections. Before a start is
granted, the start ``floor(rate)`` places back must be ``1 + HEADROOM`` seconds ago: that check is what
guarantees "never more than the rate in any second" when a thread wakes late; the timeline is what keeps
the rate up. Retries take a slot like any other request; after a 429 the whole client pauses
(:meth:`Pacer.pause`). The figures behind each choice: ARCHITECTURE.md, "Decisions".
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque

from alma_tools.errors import ConfigError

#: Ex Libris' per-institution limit; the client never goes above it.
MAX_RATE = 25.0
DEFAULT_RATE = 20.0
#: share by which slots are spaced wider than 1/rate, so that arrival jitter cannot crowd 26 into a second
HEADROOM = 0.02
#: most start-up slots spaced twice as wide (new connections make their requests arrive later)
RAMP_SLOTS = 8


def check_rate(rate: object) -> float:
    """*rate* as calls per second, or ConfigError when it is not a number more than 0 and at most 25."""
    try:
        value = float(rate)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"The request rate must be a number of calls per second, not {rate!r}.") from None
    if not 0 < value <= MAX_RATE:
        raise ConfigError(
            f"The request rate must be more than 0 and at most {MAX_RATE:g} calls per second (Alma's limit "
            f"for the whole institution; {DEFAULT_RATE:g} leaves room for its other systems); "
            f"{value:g} was asked."
        )
    return value


class Pacer:
    """Hands out start slots ``(1 + HEADROOM)/rate`` seconds apart to any number of threads, plus pauses."""

    def __init__(self, rate: float = DEFAULT_RATE, ramp_slots: int = 0) -> None:
        rate = check_rate(rate)
        self.rate = rate
        self.interval = (1 + HEADROOM) / rate
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._resume_at = 0.0
        self._ramp_left = max(0, ramp_slots)
        self._granted: deque[float] = deque(maxlen=max(1, math.floor(rate)))
        #: the shortest time ``maxlen + 1`` granted starts may span
        self._window = 1.0 + HEADROOM

    def __repr__(self) -> str:
        return f"Pacer(rate={self.rate:g})"

    def wait(self) -> None:
        """Block until this thread may start one request: its own slot, after any shared pause."""
        while True:
            with self._lock:
                now = time.monotonic()
                slot = max(now, self._next_slot, self._resume_at)
                self._next_slot = slot + self.interval * (2 if self._ramp_left else 1)
                self._ramp_left = max(0, self._ramp_left - 1)
            if slot > now:
                time.sleep(slot - now)
            while True:
                with self._lock:
                    # A 429 may have paused everyone while this thread slept to its slot: then queue again.
                    if self._resume_at > slot:
                        break
                    now = time.monotonic()
                    full = len(self._granted) == self._granted.maxlen
                    too_soon = self._granted[0] + self._window - now if full else 0.0
                    if too_soon <= 0:
                        self._granted.append(now)
                        return
                time.sleep(too_soon)

    def pause(self, seconds: float, jitter: float = 0.2) -> float:
        """Stop every thread from starting a request for about *seconds* (a pause already longer is kept).

        A random extra of up to ``jitter`` × *seconds* keeps this client from coming back exactly in step with
        other programs that were throttled at the same moment. Slots reserved before the pause are given up:
        their threads queue again behind it, so the pause ends with one request, not a burst.
        Returns the pause actually in force from now.
        """
        length = max(0.0, seconds) * (1 + jitter * random.random())
        with self._lock:
            now = time.monotonic()
            self._resume_at = max(self._resume_at, now + length)
            self._next_slot = self._resume_at
            return self._resume_at - now

    @property
    def paused_for(self) -> float:
        """Seconds left of the current shared pause (0 when not paused)."""
        with self._lock:
            return max(0.0, self._resume_at - time.monotonic())
