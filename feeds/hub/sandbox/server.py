"""The sandbox served: in process through httpx's WSGI transport, or over HTTP on 127.0.0.1.

HTTP/1.1 with keep-alive, as Hub speaks it: one connection serves many
requests. ``RunningSandbox`` serves one from a background thread for tests and
benchmarks; ``feeds sandbox`` serves one in the foreground.
"""

from __future__ import annotations

import io
import logging
import socketserver
import threading
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

import httpx

from .api import API_PREFIX, Sandbox, _int
from .faults import CutConnection

log = logging.getLogger("feeds.sandbox")


class SandboxTransport(httpx.WSGITransport):
    """httpx's WSGI transport, with a cut connection reported as httpx reports one."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = super().handle_request(request)
            response.read()
            return response
        except (ConnectionError, CutConnection) as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from None


class _KeepAliveServerHandler(ServerHandler):
    """wsgiref's handler, answering in HTTP/1.1; an answer cut short closes the connection."""

    http_version = "1.1"

    def handle_error(self) -> None:
        self.request_handler.close_connection = True
        super().handle_error()


class _QuietHandler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive, as Hub speaks it: one connection serves many requests."""

    protocol_version = "HTTP/1.1"
    # wsgiref sends the headers and the body in two writes: with Nagle's algorithm on, a short body waited for
    # the client's delayed ACK of the headers, 40 ms on every small answer of a kept-alive connection (whoami,
    # a feed, vendors). Web servers in front of Hub send at once (TCP_NODELAY), and so does the sandbox.
    disable_nagle_algorithm = True

    def handle(self) -> None:
        self.close_connection = True
        self._one()
        while not self.close_connection:
            self._one()

    def _one(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline or len(self.raw_requestline) > 65536:
            self.close_connection = True
            return
        if not self.parse_request():
            return
        # Read the whole body first: an answer given without reading it (a fault) must not
        # leave it in the connection to be taken for the next request.
        length = _int(self.headers.get("Content-Length") or "0") or 0
        body = io.BytesIO(self.rfile.read(length) if length > 0 else b"")
        handler = _KeepAliveServerHandler(body, self.wfile, self.get_stderr(), self.get_environ(),
                                          multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sandbox: " + format, *args)

    def get_stderr(self) -> Any:
        return _Null()


class _Null:
    def write(self, *_: Any) -> None:
        pass

    def flush(self) -> None:
        pass


class SandboxServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("sandbox: connection from %s ended abruptly", client_address)


def make_server(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
    server = SandboxServer((host, port), _QuietHandler)
    server.set_app(sandbox)
    return server


class RunningSandbox:
    """A sandbox served over HTTP from a background thread (for tests and benchmarks)."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0):
        self.sandbox = sandbox
        self.server = make_server(sandbox, host, port)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{API_PREFIX}"

    def __enter__(self) -> RunningSandbox:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
