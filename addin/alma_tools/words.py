"""How counts read in messages: ``1 row``, ``27 rows``, and the word that agrees with a count.

Every summary and message of every face says its counts through these two, so "1 rows … were" cannot
come back in one of them while the others read right.
"""

from __future__ import annotations


def either(count: int, one: str, many: str) -> str:
    """``one`` for a count of 1, else ``many``: the noun or verb that agrees (``was``/``were``)."""
    return one if count == 1 else many


def counted(count: int, one: str, many: str) -> str:
    """``1 copy``, ``2 copies``: the count, then the word that agrees with it."""
    return f"{count:,} {either(count, one, many)}"
