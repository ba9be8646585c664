"""One pacer shared by every worker thread: request *starts* evenly spaced, never a burst.

Alma allows 25 calls per second per institution, counted over any second. A "25 calls per 1 s window"
limiter lets 25 go back to back at the end of one window and 25 more at the start of the next: up to 50 in
one sliding second (measured: 42–50). Spacing every start by one interval instead cannot exceed the rate in
any second, whatever the number of threads.

The slots lie on a fixed timeline: each thread reserves the next free slot under a lock, then sleeps until
it. The ``ratelimit`` package used as one permit per slot (``limits(calls=1, period=1/rate)`` with
``sleep_and_retry``) was tried first; ``benchmarks/client_rate.py`` keeps measuring it as the reference.
It spaces *permits* exactly ``1/rate`` apart, but nothing holds the *starts* to that: a thread that wakes
late for its permit starts beside the next one on time, and the gateway counts arrivals. Measured here at
25/s against the simulator (same client, same threads): up to 26 requests in one sliding second and up to
12 answers of 429 in a run of 1,000 (some idle runs had none), where this pacer stayed at 25 with no 429.
Its window also restarts when a woken thread *gets* the permit, so a late wake-up is lost for good
(22.3–24.4 calls/s for 25 configured with 16 threads and the discharge's own work). A fixed timeline loses
nothing, so the achieved rate is the configured one less the deliberate headroom below.

Slots are :data:`HEADROOM` (2 %) further apart than ``1/rate``: a request's arrival at the gateway lags its
start by a varying few milliseconds, and without headroom 25 starts spread over exactly one second could
arrive within 0.99 s and meet a 429 (measured on loopback at 25/s: one in about 300 requests).

The first slots of a pacer (``ramp_slots``; the client passes its worker count, at most
:data:`RAMP_SLOTS`) are twice as far apart. Those requests open the connections, and a new connection makes
its request arrive later, and by a more varied delay, than the others (TCP and TLS handshakes; on loopback,
the server starting a thread): measured here up to 47 ms for the first few requests against 1 ms for the
rest, more than the headroom absorbs. At 25/s without the ramp, 1 run in 4 met a 429 in its first second;
with 8 ramp slots none did in 17 runs, and the ramp costs 8 intervals (0.33 s) once per client.

A thread can also wake *late* for its slot (a busy machine), and a late start followed by on-time ones
could put more than ``rate`` starts into one second. So before a start is granted, the pacer also checks the
starts it actually granted: the start ``floor(rate)`` places back must be ``1 + HEADROOM`` seconds ago,
otherwise the thread waits for that. That check alone is what guarantees "never more than the rate in any
second"; the timeline is what keeps the rate up. The check needs the same headroom as the timeline: after
a stall (measured: the discharge's results writer held the interpreter for up to 94 ms while it rewrote
the file) the late threads catch up, and a check of exactly one second let them pack ``floor(rate) + 1``
grants into 1.000 s, which the few milliseconds between a grant and the request's arrival turned into 26
or 27 arrivals in one second and a run of 429s (34 in 1,500 items at 25/s). The headroom costs nothing
in steady state, where the timeline already spaces ``floor(rate) + 1`` starts ``1 + HEADROOM`` apart.

Retries take a slot like any other request. After a 429 the whole client pauses (:meth:`Pacer.pause`): the
gateway is telling the *institution* to slow down, so no thread may start anything during the pause.
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
#: most start-up slots spaced twice as wide (see the module text)
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
        #: the shortest time ``maxlen + 1`` granted starts may span (see the module text)
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
