"""Counting requests over a sliding second, the way Alma's gateway limits an institution.

Each request thread stamps its arrival the moment its request line is read, then takes the simulator's lock
to count it. Between the two, a thread can be held up (another thread has the interpreter, the machine is
busy), so stamps can reach the count a few milliseconds out of order. A plain queue popped from the left
would then keep a stale stamp behind a newer one and count it as recent: a false "26 in one second" and a
false 429. So the stamps are kept sorted, and a new one is judged by every one-second window that holds it
(the fullest window of a set of moments always starts at one of them).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort

#: stamps older than this before the newest are forgotten (a window reaches 1 s back; out-of-order arrival
#: is milliseconds)
_KEEP = 2.0


class SlidingSecond:
    """Sorted moments (``time.monotonic()`` seconds) and the fullest one-second window ``[a, a + 1)``."""

    def __init__(self) -> None:
        self._moments: list[float] = []

    def fullest_with(self, moment: float) -> int:
        """Most moments in any one-second window that holds *moment*, counting *moment* itself."""
        moments = self._moments
        anchors = [*moments[bisect_right(moments, moment - 1.0) : bisect_right(moments, moment)], moment]
        return 1 + max(bisect_left(moments, a + 1.0) - bisect_left(moments, a) for a in anchors)

    def add(self, moment: float) -> None:
        """Keep *moment* (in order), forgetting moments no window with a new one can reach."""
        moments = self._moments
        insort(moments, moment)
        del moments[: bisect_right(moments, moments[-1] - _KEEP)]

    def count_since(self, start: float) -> int:
        """Moments after *start*."""
        return len(self._moments) - bisect_right(self._moments, start)


def max_in_any_second(moments: list[float]) -> int:
    """Most of *moments* inside any half-open one-second window ``[t, t + 1)`` (for a finished list)."""
    ordered = sorted(moments)
    best, low = 0, 0
    for high, moment in enumerate(ordered):
        while moment - ordered[low] >= 1.0:
            low += 1
        best = max(best, high - low + 1)
    return best
