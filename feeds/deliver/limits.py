"""What bounds a delivery whatever a server does (SPEC §11).

- Replies are read with a cap (``REPLY_CAP``, 64 KB per reply): an FTP or SMTP
  server whose greeting never ends, or an SSH server whose banner never ends,
  fails the attempt instead of growing the process until it is killed.
- The run deadline cuts connections: every connection a delivery opens is
  registered with its ``Context``; when the deadline passes, the watchdog
  shuts them down, so a worker blocked on a server that trickles one byte a
  minute is freed.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from ..errors import DeliveryError

#: bytes one server reply (an FTP or SMTP reply, the SSH banner lines) may hold
REPLY_CAP = 64 * 1024


class ReplyTooLong(DeliveryError):
    def __init__(self, what: str):
        super().__init__(f"{what}: the server's reply went past {REPLY_CAP // 1024} KB; refusing to read more",
                         reason="reply too long")


class ReplyBudget:
    """Bytes read of the current reply; ``spend`` raises past the cap."""

    def __init__(self, what: str):
        self.what = what
        self.used = 0

    def reset(self) -> None:
        self.used = 0

    def spend(self, data: bytes | str) -> None:
        self.used += len(data)
        if self.used > REPLY_CAP:
            raise ReplyTooLong(self.what)


class CappedSocket:
    """A socket whose reads are capped until ``release()``: paramiko reads the SSH banner through it.

    paramiko accepts any socket-like object; it reads the server's banner
    lines one by one without a bound of its own.
    """

    def __init__(self, sock: socket.socket, what: str):
        self._sock = sock
        self._budget: ReplyBudget | None = ReplyBudget(what)

    def recv(self, size: int) -> bytes:
        data = self._sock.recv(size)
        if self._budget is not None:
            self._budget.spend(data)
        return data

    def release(self) -> None:
        """The handshake is done: the SSH protocol bounds its own packets from here."""
        self._budget = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def shut(sock: Any) -> None:
    """Shut a connection down from another thread: a blocked read or write returns at once."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except (OSError, AttributeError):
        pass
    try:
        sock.close()
    except OSError:
        pass


class Watchdog:
    """Cuts a run's connections when its deadline passes (``delivery.run_deadline_minutes``).

    Started when the run starts; ``watch`` hands it the delivery's context once
    there is one (a deadline that passed before that cuts the context at once).
    """

    def __init__(self, seconds: float):
        self.passed = threading.Event()
        self._context: Any = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, context: Any) -> Any:
        with self._lock:
            self._context = context
        if self.passed.is_set():
            context.cut()
        return context

    def _fire(self) -> None:
        self.passed.set()
        with self._lock:
            context = self._context
        if context is not None:
            context.cut()
