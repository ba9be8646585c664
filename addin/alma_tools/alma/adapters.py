"""The transport under the Alma client: each HTTP request takes its pacer slot just before it is written.

The connection waits for the slot in its first ``send`` of a request, after it is connected, so nothing that
can hand the interpreter lock to a busy thread lies between the slot and the socket's ``sendall`` (a slot
taken before ``Session.send`` let requests leave late, beside later ones: ARCHITECTURE.md, "Decisions").
Every pool class the adapter's managers use (direct, through an HTTP proxy from the environment, or SOCKS)
gets the same treatment, so no request can leave unpaced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connectionpool import HTTPConnectionPool

#: called in the sending thread right before a request is written; waits for its slot (may raise to refuse)
BeforeSend = Callable[[], None]


def paced_pool(pool_cls: type[HTTPConnectionPool], before_send: BeforeSend) -> type[HTTPConnectionPool]:
    """A subclass of *pool_cls* whose connections call *before_send* just before a request's first byte."""
    connection_cls = pool_cls.ConnectionCls

    class PacedConnection(connection_cls):  # type: ignore[valid-type, misc]
        _paced = False

        def request(self, *args: Any, **kwargs: Any) -> None:
            self._paced = False  # one slot per request: its first send (the headers) waits, the body not
            super().request(*args, **kwargs)

        def send(self, data: Any) -> None:
            if not self._paced:
                if self.sock is None:
                    self.connect()  # before the slot: connecting lets go of the interpreter lock
                before_send()
                self._paced = True
            super().send(data)

    PacedConnection.__name__ = PacedConnection.__qualname__ = f"Paced{connection_cls.__name__}"
    return type(f"Paced{pool_cls.__name__}", (pool_cls,), {"ConnectionCls": PacedConnection})


class PacedAdapter(HTTPAdapter):
    """``HTTPAdapter`` whose connections take a pacer slot (via *before_send*) for every request.

    urllib3 must not retry on its own (``max_retries=0``): the client's retries are paced and classified.
    """

    def __init__(self, before_send: BeforeSend, pool_maxsize: int) -> None:
        self._before_send = before_send
        super().__init__(pool_connections=2, pool_maxsize=pool_maxsize, max_retries=0)

    def _pace(self, manager: PoolManager) -> PoolManager:
        manager.pool_classes_by_scheme = {
            scheme: paced_pool(pool_cls, self._before_send)
            for scheme, pool_cls in manager.pool_classes_by_scheme.items()
        }
        return manager

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self._pace(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        """The manager for a proxy (``HTTPS_PROXY`` and the like), paced like the direct one."""
        known = proxy in self.proxy_manager
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        return manager if known else self._pace(manager)
