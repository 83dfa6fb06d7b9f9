"""Hostile servers on 127.0.0.1 for the isolation tests (SPEC §11): they accept and then misbehave."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any


class HostileServer:
    """A TCP listener on 127.0.0.1 that runs ``behaviour(connection, server)`` for every connection."""

    def __init__(self, behaviour: Callable[[socket.socket, HostileServer], None]):
        self.behaviour = behaviour
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.sent = 0
        self.closed = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> HostileServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            self.behaviour(connection, self)
        except OSError:
            pass
        finally:
            connection.close()

    def send(self, connection: socket.socket, data: bytes) -> None:
        connection.sendall(data)
        self.sent += len(data)


def trickle(first: bytes = b"2", interval: float = 0.3) -> Callable[[socket.socket, HostileServer], None]:
    """Answer one byte at a time, one every ``interval`` seconds, and never finish the line."""

    def behaviour(connection: socket.socket, server: HostileServer) -> None:
        server.send(connection, first)
        while not server.closed.is_set():
            time.sleep(interval)
            server.send(connection, b"2")

    return behaviour


def endless(line: bytes) -> Callable[[socket.socket, HostileServer], None]:
    """Send ``line`` again and again, as fast as the client takes it (a reply that never ends)."""

    def behaviour(connection: socket.socket, server: HostileServer) -> None:
        while not server.closed.is_set():
            server.send(connection, line)

    return behaviour


def endless_after(head: bytes, line: bytes) -> Callable[[socket.socket, HostileServer], None]:
    """Send ``head`` once (an HTTP status line, say), then ``line`` again and again: a reply that never ends."""

    def behaviour(connection: socket.socket, server: HostileServer) -> None:
        server.send(connection, head)
        endless(line)(connection, server)

    return behaviour


def silent(connection: socket.socket, server: HostileServer) -> None:
    """Accept, then say nothing at all."""
    server.closed.wait(30)



def scripted(greeting: bytes, answers: dict[bytes, bytes]) -> Callable[[socket.socket, HostileServer], None]:
    """A line protocol (FTP, SMTP): ``greeting`` first, then each command answered by its verb's entry in
    ``answers`` (``500 no`` for others) until QUIT. The answers are the server's own text: one tens of KB
    long, one that echoes the password back."""

    def behaviour(connection: socket.socket, server: HostileServer) -> None:
        server.send(connection, greeting)
        for line in connection.makefile("rb"):
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"QUIT":
                server.send(connection, b"221 bye\r\n")
                return
            server.send(connection, answers.get(verb, b"500 no\r\n"))

    return behaviour


def ftp_refusing_login(reply: bytes) -> Callable[[socket.socket, HostileServer], None]:
    """An FTP server that takes the user name and answers the password with ``reply``."""
    return scripted(b"220 hostile FTP\r\n", {b"USER": b"331 password please\r\n", b"PASS": reply})

class TricklingHub:
    """The Hub sandbox as a WSGI application, except that the requests ``slow`` picks trickle.

    A picked request is answered 200 with a long ``Content-Length``, then one
    byte (JSON white space) every ``interval`` seconds: every read gets a byte
    in time, so a per-read timeout never fires. Serve it with
    ``RunningSandbox(TricklingHub(...))`` on 127.0.0.1.
    """

    def __init__(self, sandbox: Any, slow: Callable[[str, str], bool], interval: float = 0.5):
        self.sandbox = sandbox
        self.slow = slow  #: (path under /api/v1, query string) -> trickle?
        self.interval = interval
        self.trickled = 0  #: requests answered by trickling
        self.closed = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "").removeprefix("/api/v1")
        if not self.slow(path, environ.get("QUERY_STRING", "")):
            return self.sandbox(environ, start_response)
        self.trickled += 1
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "100000")])
        return self._trickle()

    def _trickle(self) -> Any:
        for _ in range(int(120 / self.interval)):  # two minutes at most: a test that hangs still ends
            if self.closed.is_set():
                return
            yield b" "
            time.sleep(self.interval)
