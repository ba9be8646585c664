"""One pacer shared by every worker thread: request *starts* evenly spaced, never a burst.

Alma allows 25 calls per second per institution, counted over any second. A "25 calls per 1 s window"
limiter lets 25 go back to back at the end of one window and 25 more at the start of the next: up to 50 in
one sliding second (measured: 42–50). Spacing every start by ``1/rate`` seconds instead (the ``ratelimit``
package used as one permit per slot) cannot exceed the rate in any second, whatever the number of threads.

Retries take a slot like any other request. After a 429 the whole client pauses (:meth:`Pacer.pause`): the
gateway is telling the *institution* to slow down, so no thread may start anything during the pause.
"""

from __future__ import annotations

import logging
import random
import threading
import time

from ratelimit import limits, sleep_and_retry

from alma_tools.errors import ConfigError

#: Ex Libris' per-institution limit; the client never goes above it.
MAX_RATE = 25.0
DEFAULT_RATE = 20.0

log = logging.getLogger("alma_tools.alma")


class Pacer:
    """Hands out start slots ``1/rate`` seconds apart to any number of threads, plus shared pauses."""

    def __init__(self, rate: float = DEFAULT_RATE) -> None:
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            raise ConfigError(
                f"The request rate must be a number of calls per second, not {rate!r}."
            ) from None
        if not 0 < rate <= MAX_RATE:
            raise ConfigError(
                f"The request rate must be more than 0 and at most {MAX_RATE:g} calls per second "
                f"(Alma's limit for the whole institution); {rate:g} was asked."
            )
        self.rate = rate
        # A fresh decorator per instance: the permit state lives in it, so two clients never share slots.
        self._slot = sleep_and_retry(limits(calls=1, period=1.0 / rate)(_take_slot))
        self._pause_lock = threading.Lock()
        self._resume_at = 0.0

    def __repr__(self) -> str:
        return f"Pacer(rate={self.rate:g})"

    def wait(self) -> None:
        """Block until this thread may start one request (after any shared pause, then in its own slot)."""
        while True:
            delay = self.paused_for
            if delay > 0:
                time.sleep(delay)
                continue
            self._slot()
            # A 429 may have paused everyone while this thread queued for its slot: then wait again.
            if self.paused_for <= 0:
                return

    def pause(self, seconds: float, jitter: float = 0.2) -> float:
        """Stop every thread from starting a request for about *seconds* (a pause already longer is kept).

        A random extra of up to ``jitter`` × *seconds* keeps this client from coming back exactly in step with
        other programs that were throttled at the same moment. Returns the pause actually set from now.
        """
        length = max(0.0, seconds) * (1 + jitter * random.random())
        with self._pause_lock:
            now = time.monotonic()
            self._resume_at = max(self._resume_at, now + length)
            return self._resume_at - now

    @property
    def paused_for(self) -> float:
        """Seconds left of the current shared pause (0 when not paused)."""
        with self._pause_lock:
            return max(0.0, self._resume_at - time.monotonic())


def _take_slot() -> None:
    """The rate-limited call: taking it *is* the permit; the request itself runs outside the limiter."""
