"""The one family of errors the Alma client raises.

Modelled on ``requests.exceptions``: one base class (:class:`AlmaError`) that the faces can catch and show,
and a few subclasses for the cases a caller must treat differently (stop the run, ask a person, re-read the
item before doing anything else). Every message is written for library staff.

The API key must never reach a person's screen, a log or a saved file. Exceptions are where it would most
easily leak (a gateway echoing a request, a URL with ``apikey=``), so every text that goes into an
:class:`AlmaError` passes through :func:`redact`, which removes every key the running process has used.
"""

from __future__ import annotations

import re
import threading

from alma_tools.errors import AlmaToolsError

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_APIKEY_PARAM = re.compile(r"(?i)(apikey=)[^&\s#\"'<>]*")
_APIKEY_HEADER = re.compile(r"(?i)(authorization:?\s*apikey\s+)[^\s\"'<>]+")
REDACTED = "***"
MIN_SECRET_LENGTH = 8


def register_secret(secret: str) -> None:
    """Remember a key so that :func:`redact` removes it from any text, whoever builds that text.

    A process-wide set (not per client) because texts are redacted in places that have no client at hand:
    exception constructors, log filters. Keys stay in memory for the process anyway. Strings shorter than
    :data:`MIN_SECRET_LENGTH` are not registered: real Alma keys are some 36 characters, and replacing a
    one-letter test key everywhere would garble every message.
    """
    if secret and len(secret) >= MIN_SECRET_LENGTH:
        with _SECRETS_LOCK:
            _SECRETS.add(secret)


def redact(text: str) -> str:
    """Return *text* with every registered key, and every ``apikey=…`` / ``Authorization: apikey …`` value,
    replaced by ``***``."""
    if not text:
        return text
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    text = _APIKEY_PARAM.sub(r"\g<1>" + REDACTED, text)
    return _APIKEY_HEADER.sub(r"\g<1>" + REDACTED, text)


class AlmaError(AlmaToolsError):
    """Alma (or the way to it) refused or failed a request.

    ``status`` is the HTTP status (``None`` when no answer came), ``code`` Alma's ``errorCode`` (numeric text
    such as ``"40166411"`` or a token such as ``"PER_SECOND_THRESHOLD"``; ``""`` when the answer had none),
    ``message`` Alma's ``errorMessage`` or our own explanation, ``tracking_id`` what Ex Libris support asks
    for.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        tracking_id: str = "",
        hint: str = "",
    ) -> None:
        self.status = status
        self.code = redact(str(code or ""))
        self.message = redact(str(message or ""))
        self.tracking_id = redact(str(tracking_id or ""))
        self.hint = redact(hint)
        super().__init__(self._text())

    def _text(self) -> str:
        head = f"Alma error {self.code}: {self.message}" if self.code else self.message
        details = []
        if self.status is not None:
            details.append(f"HTTP {self.status}")
        if self.tracking_id:
            details.append(f"tracking id {self.tracking_id}")
        text = f"{head} ({', '.join(details)})" if details else head
        return f"{text}. {self.hint}" if self.hint else text

    def __str__(self) -> str:
        return self._text()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class ThresholdError(AlmaError):
    """Alma kept answering 429 PER_SECOND_THRESHOLD after every allowed retry: others are using the quota."""


class DailyLimitError(AlmaError):
    """The institution's daily API allowance is used up, or nearly (under the client's safety floor).

    The run must stop cleanly; it can resume after midnight in the institution's time zone. ``remaining`` is
    the last ``X-Exl-Api-Remaining`` seen (``None`` if Alma did not say).
    """

    def __init__(self, message: str, *, remaining: int | None = None, **kwargs: object) -> None:
        self.remaining = remaining
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ServerError(AlmaError):
    """Alma answered 5xx (or "please retry later") on every allowed attempt."""


class AuthError(AlmaError):
    """The API key is missing, unknown to Alma, or not allowed to do this (e.g. a read-only Bibs key)."""


class AnswerLost(ServerError):
    """A read (GET) was sent and its answer broke off or never came; reading changes nothing: retried."""


class OutcomeUnknown(AlmaError):
    """A request that changes Alma (a scan-in) was sent and no usable answer came back.

    It may or may not have been carried out. It is never re-sent blind: the caller re-reads the item's loans
    and decides.
    """


class ConnectionFailed(AlmaError):
    """Alma could not be reached at all; nothing was sent, so nothing changed."""


class CertificateError(ConnectionFailed):
    """The server's certificate is not trusted: nothing was sent, and trying again would meet the same."""
