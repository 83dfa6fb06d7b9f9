"""Deadlines over whole exchanges, and caps on what is read back, at the socket level (SPEC §11: Time).

A timeout bounds one wait: a server that sends one byte a second never
trips a 5 s timeout, and an HTTP client's timeout is per read. A ``Bound``
is a moment by which a whole chain of work must end (a run, from its token to
its last product page; one alert's POST), and optionally a cap on the bytes
read back. It is set for a call chain with ``within`` (a context variable:
the thread that does the work sees it; ``carried`` hands it to pool threads,
which do not inherit context variables).

``transport()`` is an httpx transport whose sockets honour the bound of the
thread that uses them: every connect, read and write waits at most
``min(timeout, time left)``, and fails with ``DeadlinePassed`` once the time
is up, so a trickle cannot stretch an exchange past its deadline; every read
counts against the cap (``ReplyTooLong`` past it). Keep-alive connections
are shared by many chains; each read asks the bound of the chain it serves.
Without a bound the transport behaves as httpx's own.

Not bounded: the DNS lookup before a connection (the system resolver has
its own timeouts).
"""

from __future__ import annotations

import contextvars
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpcore
import httpx

from .errors import FeedsError

T = TypeVar("T")


class DeadlinePassed(FeedsError):
    """A bound's deadline passed: the exchange was cut off (not worth another try within the same bound)."""

    def __init__(self, reason: str, doing: str = ""):
        self.reason, self.doing = reason, doing
        super().__init__(f"cut off: {reason}" + (f" {doing}" if doing else ""))

    def during(self, doing: str) -> DeadlinePassed:
        """The same error, saying what was being done (``waiting for Hub's answer to GET /products``)."""
        return DeadlinePassed(self.reason, doing) if not self.doing else self


class ReplyTooLong(FeedsError):
    def __init__(self, cap: int):
        super().__init__(f"the reply went past {cap // 1024} KB; refusing to read more")


@dataclass
class Bound:
    """A deadline (``time.monotonic()`` seconds) for a chain of work, why it exists, and a cap on bytes read."""

    at: float
    reason: str  #: what passing it means, for the error: "the run passed delivery.run_deadline_minutes (6 min)"
    cap: int | None = None
    read: int = 0  #: bytes read under this bound so far

    @classmethod
    def after(cls, seconds: float, reason: str, cap: int | None = None) -> Bound:
        return cls(time.monotonic() + seconds, reason, cap)

    def left(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        if self.left() <= 0:
            raise DeadlinePassed(self.reason)

    def spend(self, size: int) -> None:
        self.read += size
        if self.cap is not None and self.read > self.cap:
            raise ReplyTooLong(self.cap)

    def tighten(self, outer: Bound | None) -> Bound:
        """This bound, ending no later than ``outer`` (a chain's deadline holds inside it too)."""
        if outer is not None and outer.at < self.at:
            self.at, self.reason = outer.at, outer.reason
        return self


_current: contextvars.ContextVar[Bound | None] = contextvars.ContextVar("feeds_bound", default=None)


def current() -> Bound | None:
    """The bound of this call chain, if any."""
    return _current.get()


@contextmanager
def within(bound: Bound | None) -> Iterator[Bound | None]:
    """Run the block under ``bound`` (None: leave the chain's bound as it is)."""
    if bound is None:
        yield current()
        return
    token = _current.set(bound.tighten(current()))
    try:
        yield bound
    finally:
        _current.reset(token)


def carried(call: Callable[..., T]) -> Callable[..., T]:
    """``call`` run in a copy of this thread's context: a pool thread keeps the chain's bound."""
    context = contextvars.copy_context()
    return lambda *args, **kwargs: context.run(call, *args, **kwargs)


def check() -> None:
    """Fail with ``DeadlinePassed`` when the chain's deadline has passed."""
    bound = current()
    if bound is not None:
        bound.check()


def left() -> float | None:
    """Seconds left to the chain's deadline (None without one)."""
    bound = current()
    return None if bound is None else max(0.0, bound.left())


def capped(seconds: float) -> float:
    """A pause cut short at the chain's deadline."""
    remaining = left()
    return seconds if remaining is None else min(seconds, remaining)


@contextmanager
def acquired(lock: threading.Lock | threading.Semaphore) -> Iterator[None]:
    """Hold ``lock``, waiting no longer than the chain's deadline for it."""
    bound = current()
    if bound is None:
        lock.acquire()
    elif not lock.acquire(timeout=max(0.0, bound.left())):
        raise DeadlinePassed(bound.reason)
    try:
        yield
    finally:
        lock.release()


# --- the sockets -------------------------------------------------------------------------------------------


def _wait(timeout: float | None) -> tuple[Bound | None, float | None]:
    """The chain's bound and the wait for one socket operation: ``min(timeout, time left)``."""
    bound = current()
    if bound is None:
        return None, timeout
    remaining = bound.left()
    if remaining <= 0:
        raise DeadlinePassed(bound.reason)
    return bound, remaining if timeout is None else min(timeout, remaining)


def _timed_out(bound: Bound | None) -> None:
    """A socket wait ran out: when the deadline is why, say so (it is not worth another try)."""
    if bound is not None and bound.left() <= 0:
        raise DeadlinePassed(bound.reason) from None


class BoundedStream(httpcore.NetworkStream):
    """httpcore's stream with every wait bounded by the chain's deadline and every read counted."""

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        bound, wait = _wait(timeout)
        if bound is not None and bound.cap is not None:
            max_bytes = max(1, min(max_bytes, bound.cap - bound.read + 1))  # never read far past the cap
        try:
            data = self._inner.read(max_bytes, wait)
        except httpcore.ReadTimeout:
            _timed_out(bound)
            raise
        if bound is not None:
            bound.spend(len(data))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send ``buffer``, each send waiting at most the time left (httpcore gives every send the full timeout)."""
        sock = self._inner.get_extra_info("socket")
        if current() is None or not isinstance(sock, socket.socket):
            self._inner.write(buffer, timeout)
            return
        view = memoryview(buffer)
        while view:
            bound, wait = _wait(timeout)
            try:
                sock.settimeout(wait)
                sent = sock.send(view)
            except socket.timeout:
                _timed_out(bound)
                raise httpcore.WriteTimeout("timed out") from None
            except OSError as exc:
                raise httpcore.WriteError(str(exc)) from None
            view = view[sent:]

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        bound, wait = _wait(timeout)
        try:
            return BoundedStream(self._inner.start_tls(ssl_context, server_hostname, wait))
        except httpcore.ConnectTimeout:
            _timed_out(bound)
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class BoundedBackend(httpcore.NetworkBackend):
    """httpcore's own backend, its streams bounded (``BoundedStream``)."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        bound, wait = _wait(timeout)
        try:
            return BoundedStream(self._inner.connect_tcp(host, port, wait, local_address, socket_options))
        except httpcore.ConnectTimeout:
            _timed_out(bound)
            raise

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        _, wait = _wait(timeout)
        return BoundedStream(self._inner.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        time.sleep(capped(seconds))


class BoundedTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool whose sockets honour the chain's bound.

    httpx takes no network backend of its own, so the pool it built is
    replaced by one with the bounded backend (the same limits as httpx's
    defaults). Environment proxies are not used: Hub and the alert webhook
    are reached directly.
    """

    def __init__(self, ssl_context: ssl.SSLContext):
        super().__init__(verify=ssl_context)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=BoundedBackend(),
        )


def transport(ssl_context: ssl.SSLContext | None = None) -> httpx.BaseTransport:
    return BoundedTransport(ssl_context or ssl.create_default_context())
