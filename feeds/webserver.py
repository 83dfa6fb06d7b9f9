"""The daemon's HTTP server (status page, /metrics, /healthz): waitress, bounded against idle and slow clients.

waitress reads every connection on one thread (its asyncore loop) and runs
the application on a fixed pool of ``threads``, so a client that connects
and sends nothing, or half a request, costs a socket, never a thread. Two
limits on top (SPEC §13):

- a request must be complete within ``request_timeout`` seconds: waitress
  closes a connection that sent nothing for that long (``channel_timeout``),
  and ``_Server.maintenance`` closes one whose request began that long ago
  and is still not complete (a client sending a byte now and then);
- at most ``connection_limit`` connections are open at once; more wait in
  the kernel's listen backlog until one closes.

``trusted_proxy`` names a reverse proxy whose ``X-Forwarded-Proto`` is
believed (waitress then sets ``wsgi.url_scheme``, which decides the sign-in
cookie's ``Secure``); from anyone else the header is dropped.
"""

from __future__ import annotations

import errno
import threading
import time
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

#: seconds a client has to send a complete request (SPEC §13)
REQUEST_TIMEOUT = 10
#: connections served at once; the status page is read by people and one Prometheus
CONNECTION_LIMIT = 100
#: threads that run the application (the pages are rendered there, requests are read elsewhere)
THREADS = 4


class _Channel(HTTPChannel):
    """A connection that remembers when its current request began."""

    request_began = 0.0

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.request_began = time.time()
        return bool(super().received(data))


class _Server(TcpWSGIServer):  # type: ignore[misc]
    channel_class = _Channel

    def maintenance(self, now: float) -> None:
        """waitress closes connections idle for ``channel_timeout``; this also those with a request begun as long ago."""
        super().maintenance(now)
        cutoff = now - self.adj.channel_timeout
        for channel in list(self.active_channels.values()):
            if channel.request is not None and not channel.requests and channel.request_began < cutoff:
                channel.will_close = True


class WebServer:
    """waitress serving ``app`` on ``host``:``port`` from a background thread, until ``shutdown``."""

    def __init__(self, app: Any, host: str, port: int, *, request_timeout: int = REQUEST_TIMEOUT,
                 connection_limit: int = CONNECTION_LIMIT, threads: int = THREADS, trusted_proxy: str = ""):
        options: dict[str, Any] = {
            "host": host.strip().strip("[]"), "port": port, "threads": threads, "ident": "feeds",
            "channel_timeout": request_timeout, "cleanup_interval": 1, "connection_limit": connection_limit,
            "asyncore_use_poll": True, "max_request_header_size": 64 * 1024, "max_request_body_size": 64 * 1024,
        }
        if trusted_proxy:
            options.update(trusted_proxy=trusted_proxy, trusted_proxy_headers={"x-forwarded-proto"})
        try:
            adj = Adjustments(**options)
        except ValueError:
            raise OSError(errno.EADDRNOTAVAIL, f"{host} is not an address of this machine") from None
        self._map: dict[int, Any] = {}
        self._workers = ThreadedTaskDispatcher()
        self._workers.set_thread_count(adj.threads)
        try:
            servers = [_Server(app, self._map, dispatcher=self._workers, adj=adj, sockinfo=info) for info in adj.listen]
        except OSError:
            self._close()
            raise
        #: (host, port) of the first address listened on (port 0 asks for a free one)
        self.server_address: tuple[str, int] = servers[0].socket.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="web", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            wasyncore.loop(timeout=0.2, map=self._map, use_poll=True, count=1)
        self._close()

    def _close(self) -> None:
        for dispatcher in list(self._map.values()):
            dispatcher.close()
        self._workers.shutdown(timeout=5)

    def shutdown(self) -> None:
        """Stop listening, close every connection and the application's threads."""
        self._stop.set()
        self._thread.join(10)
