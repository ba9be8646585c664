"""The one Alma client: session, key, pacing, retries and Alma's answer shapes.

Everything the rest of the product needs is importable from here::

    from alma_tools.alma import AlmaClient, RetryPolicy, AlmaError, OutcomeUnknown
"""

from alma_tools.alma.exceptions import (
    AlmaError,
    AuthError,
    ConnectionFailed,
    DailyLimitError,
    OutcomeUnknown,
    ServerError,
    ThresholdError,
    redact,
)
from alma_tools.alma.keys import describe_key_source, resolve_api_key, store_api_key
from alma_tools.alma.pacing import MAX_RATE, Pacer
from alma_tools.alma.regions import REGIONS, resolve_base_url
from alma_tools.alma.responses import Item, Loan, ResponseRecord
from alma_tools.alma.retry import RetryPolicy
from alma_tools.alma.sessions import AlmaClient

__all__ = [
    "MAX_RATE",
    "REGIONS",
    "AlmaClient",
    "AlmaError",
    "AuthError",
    "ConnectionFailed",
    "DailyLimitError",
    "Item",
    "Loan",
    "OutcomeUnknown",
    "Pacer",
    "ResponseRecord",
    "RetryPolicy",
    "ServerError",
    "ThresholdError",
    "describe_key_source",
    "redact",
    "resolve_api_key",
    "resolve_base_url",
    "store_api_key",
]
