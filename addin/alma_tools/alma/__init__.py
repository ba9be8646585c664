"""The one Alma client: session, key, pacing, retries and Alma's answer shapes.

Everything the rest of the product needs is importable from here::

    from alma_tools.alma import AlmaClient, RetryPolicy, AlmaError, OutcomeUnknown
"""

from alma_tools.alma.exceptions import (
    AlmaError,
    AnswerLost,
    AuthError,
    CertificateError,
    ConnectionFailed,
    DailyLimitError,
    OutcomeUnknown,
    ServerError,
    ThresholdError,
    redact,
)
from alma_tools.alma.keys import describe_key_source, resolve_api_key, store_api_key
from alma_tools.alma.pacing import DEFAULT_RATE, MAX_RATE, Pacer, check_rate
from alma_tools.alma.protocols import ClientFactory, OnResponse, ScanClient
from alma_tools.alma.regions import REGIONS, resolve_base_url
from alma_tools.alma.responses import Item, Loan, ResponseRecord
from alma_tools.alma.retry import RetryPolicy
from alma_tools.alma.sessions import DEFAULT_WORKERS, AlmaClient, client_factory, item_path

__all__ = [
    "DEFAULT_RATE",
    "DEFAULT_WORKERS",
    "MAX_RATE",
    "REGIONS",
    "AlmaClient",
    "AlmaError",
    "AnswerLost",
    "AuthError",
    "CertificateError",
    "ClientFactory",
    "ConnectionFailed",
    "DailyLimitError",
    "Item",
    "Loan",
    "OnResponse",
    "OutcomeUnknown",
    "Pacer",
    "ResponseRecord",
    "RetryPolicy",
    "ScanClient",
    "ServerError",
    "ThresholdError",
    "check_rate",
    "client_factory",
    "describe_key_source",
    "item_path",
    "redact",
    "resolve_api_key",
    "resolve_base_url",
    "store_api_key",
]
