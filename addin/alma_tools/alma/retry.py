"""When to try a request again, and how long to wait first: one small frozen value, like urllib3's ``Retry``.

:meth:`RetryPolicy.kind_for` decides which budget a failure draws on, or that it is final:

``throttle``  429 PER_SECOND_THRESHOLD: the same request again (POST included) after a shared pause; waits
              grow from ``throttle_backoff[0]`` to at most ``throttle_backoff[1]`` seconds.
``server``    5xx answers and GENERAL_ERROR "please retry later", GET and the scan-in POST alike;
              exponential waits from ``server_backoff`` seconds.
``connect``   the connection could not be opened (nothing was sent), or a GET's answer broke off.

Final: a POST sent whose answer never came (:class:`~alma_tools.alma.exceptions.OutcomeUnknown`), an
untrusted certificate, a key problem, the daily limit, an answer too large or too slow, any other error.
``attempts`` counts tries in total, so ``server_attempts=4`` means one try and up to three retries. Why each
kind is retried as it is: ARCHITECTURE.md, "Decisions".
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from alma_tools.alma import exceptions as ex
from alma_tools.alma.responses import is_retry_later

Kind = Literal["throttle", "server", "connect"]
#: the same request would meet the same fate: an answer too large or too slow is not asked for again
FINAL_CODES = frozenset({"ANSWER_TOO_LARGE", "ANSWER_TOO_SLOW"})


@dataclass(frozen=True)
class RetryPolicy:
    """How many tries each kind of failure gets and how long to wait between them (seconds)."""

    throttle_attempts: int = 8
    throttle_backoff: tuple[float, float] = (0.5, 5.0)
    server_attempts: int = 4
    server_backoff: float = 1.0
    server_backoff_max: float = 30.0
    connect_attempts: int = 3
    connect_backoff: float = 0.5
    #: each wait is multiplied by a random factor in [1 - jitter, 1]; 0 gives exact waits (tests)
    jitter: float = 0.5

    def __post_init__(self) -> None:
        for name in ("throttle_attempts", "server_attempts", "connect_attempts"):
            if getattr(self, name) < 1:
                raise ValueError(f"RetryPolicy.{name} must be at least 1 (the first try)")
        low, high = self.throttle_backoff
        if not 0 <= low <= high:
            raise ValueError("RetryPolicy.throttle_backoff must be (shortest, longest) seconds")
        if self.server_backoff < 0 or self.connect_backoff < 0 or self.server_backoff_max < 0:
            raise ValueError("RetryPolicy waits must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("RetryPolicy.jitter must be between 0 and 1")

    def kind_for(self, error: ex.AlmaError) -> Kind | None:
        """The budget a failed try draws on, or None when the failure is final and is raised as it is."""
        if isinstance(error, ex.ThresholdError) and error.status == 429:
            return "throttle"
        if isinstance(error, ex.CertificateError):
            return None
        if isinstance(error, (ex.ConnectionFailed, ex.AnswerLost)):
            return "connect"
        if isinstance(error, (ex.AuthError, ex.DailyLimitError, ex.OutcomeUnknown)) or error.status is None:
            return None
        if error.code in FINAL_CODES:
            return None
        return "server" if is_retry_later(error.status, error.code, error.message) else None

    def attempts(self, kind: Kind) -> int:
        """Total tries allowed for *kind*."""
        return {
            "throttle": self.throttle_attempts,
            "server": self.server_attempts,
            "connect": self.connect_attempts,
        }[kind]

    def should_retry(self, kind: Kind, attempt: int) -> bool:
        """After the *attempt*-th failed try (1-based) of this kind, is another try allowed?"""
        return attempt < self.attempts(kind)

    def sleep_for(self, kind: Kind, attempt: int) -> float:
        """Seconds to wait after the *attempt*-th failed try (1-based) before the next one."""
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        if kind == "throttle":
            low, high = self.throttle_backoff
            base = min(high, low * 2 ** (attempt - 1))
        elif kind == "server":
            base = min(self.server_backoff_max, self.server_backoff * 2 ** (attempt - 1))
        elif kind == "connect":
            base = self.connect_backoff * attempt
        else:
            raise ValueError(f"unknown retry kind {kind!r}")
        return base * (1 - self.jitter * random.random())
