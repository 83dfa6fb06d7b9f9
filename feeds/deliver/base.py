"""What every delivery shares: the job, the target, the run's context, TLS and error helpers.

Method and protocol modules turn their library's exceptions into
``DeliveryError`` with ``transient`` set honestly: a dropped connection or an
SMTP 4xx may succeed on another try, a refused login, an SMTP 5xx or a changed
host key never will (SPEC §4).
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .. import failpoints
from ..egress import resolve
from ..errors import Cancelled, DeliveryError
from . import limits

if TYPE_CHECKING:  # the feed model is built from the methods; they only name it
    from ..config import FeedConfig
    from .method import Method

log = logging.getLogger("feeds.deliver")


@dataclass(frozen=True)
class Job:
    """A rendered file and the feed it belongs to."""

    feed: FeedConfig
    path: Path
    filename: str
    size: int
    sha256: str
    rows: int
    generated_at: datetime
    run_id: int | None = None
    changes: Any = None  #: the change summary (changes.Changes), which an email states


@dataclass(frozen=True)
class Target:
    """Where a file goes: the method that sends it, and the place in the method's own terms.

    ``place`` belongs to the method: a mailbox for EMAIL, a folder on a server
    for the upload methods (``protocols.ServerFolder``). Nothing outside the
    method reads its fields.
    """

    method: Method
    place: Any

    def describe(self, filename: str = "") -> str:
        """The destination as shown in summaries, history and manifests: no secrets."""
        return self.method.describe(self, filename)


class HostKeyStore(Protocol):
    """Where trust-on-first-use SFTP host keys are kept (the ledger's ``host_keys``)."""

    def get(self, host: str, port: int) -> tuple[str, str, str] | None: ...

    def remember(self, host: str, port: int, key_type: str, key_base64: str, fingerprint: str) -> None: ...


@dataclass
class Context:
    """What one run's delivery needs besides the job and its settings: timeouts, host keys, cancellation.

    ``leftovers`` are temporary names on the server that a failed attempt
    could not remove; the next attempt (or run) removes them. They are
    reported to ``on_leftovers`` before each upload starts, so that the ledger
    knows them even when the process is killed in the middle of an upload.

    ``allowed`` are the networks exempt from the egress rule. Every connection
    a method opens is registered (``opened``), so that the run's watchdog can
    cut them all when the run deadline passes (``cut``).

    ``publish(marker)`` is said by a method right before the step that makes
    the file visible and cannot be undone (the rename of an upload, the final
    dot of a mail); the marker is recorded (``on_publishing``) before the step,
    so that whoever takes the delivery over after a crash, or the next
    attempt after a dropped connection, asks the method whether the file
    landed (``Method.landed``) instead of sending it twice.
    """

    timeout: float = 60.0  #: every network wait (``delivery.timeout``)
    host_keys: HostKeyStore | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    leftovers: list[str] = field(default_factory=list)
    on_leftovers: Callable[[list[str]], None] | None = None
    allowed: tuple[Any, ...] = ()
    #: why the run's deadline cut the delivery off, once it has
    deadline_text: str = "the run deadline"
    cut_off: threading.Event = field(default_factory=threading.Event)
    #: the marker of a delivery that was being made visible when it was interrupted (see ``publish``)
    publishing: str | None = None
    on_publishing: Callable[[str | None], None] | None = None
    _connections: list[Any] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def address(self, host: str, port: int, organisation_owned: bool) -> str:
        """Where to connect: the checked address of an organisation's server (SPEC §11), else ``host``."""
        if not organisation_owned:
            return host  # the operator's own target ([sitc], [smtp])
        return resolve(host, port, self.allowed)

    def opened(self, connection: Any) -> Any:
        """Register a connection (a socket or anything with ``shutdown``/``close``); cut at once if too late."""
        with self._lock:
            self._connections.append(connection)
        if self.cut_off.is_set():
            limits.shut(connection)
        return connection

    def cut(self) -> None:
        """The deadline passed: shut every connection of the run down; the blocked worker returns."""
        self.cut_off.set()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            limits.shut(connection)

    def add_leftover(self, name: str) -> None:
        self.leftovers.append(name)
        self._changed()

    def drop_leftover(self, name: str) -> None:
        if name in self.leftovers:
            self.leftovers.remove(name)
            self._changed()

    def _changed(self) -> None:
        if self.on_leftovers is not None:
            self.on_leftovers(list(self.leftovers))

    def publish(self, marker: str) -> None:
        """The file is about to be made visible under its final name: recorded first (see the class)."""
        self.publishing = marker
        if self.on_publishing is not None:
            self.on_publishing(marker)

    def unpublish(self) -> None:
        """The step was refused, plainly: nothing was made visible, and another attempt may send again."""
        self.publishing = None
        if self.on_publishing is not None:
            self.on_publishing(None)

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("the delivery was cut off by a shutdown")
        if self.cut_off.is_set():
            raise self.deadline_error()

    def deadline_error(self) -> DeliveryError:
        return DeliveryError(f"cut off: the run passed {self.deadline_text}; the server did not finish in time",
                             reason="deadline passed")


@dataclass
class Attempt:
    number: int
    started_at: datetime
    ended_at: datetime
    error: str | None


def tls_context(ca_file: str, verify: bool, what: str, setting: str) -> ssl.SSLContext:
    """A TLS context that checks the server's certificate (against ``ca_file`` when given).

    Turning verification off is possible for broken servers, and says so on every use.
    """
    context = ssl.create_default_context(cafile=ca_file or None)
    if not verify:
        log.warning("%s certificate verification is off (%s = false): the server is not authenticated", what, setting)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def before_publishing(size: int | None, job: Job, where: str, context: Context) -> None:
    """The last checks before a temporary upload is renamed to its final name.

    The server must hold the whole file; a shutdown past its grace cuts the
    delivery off here, before the file becomes visible, never after.
    """
    if size is not None and size != job.size:
        raise DeliveryError(
            f"uploading to {where}: the server holds {size} bytes of {job.size}; the upload was incomplete",
            transient=True,
        )
    failpoints.reached("upload")
    context.check_cancel()


def classify_os_error(exc: BaseException, what: str) -> DeliveryError:
    """Network-level failures: certificate problems are permanent, the rest transient."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryError(f"{what}: the server's TLS certificate was refused ({exc.verify_message or exc.reason})",
                             reason="certificate refused")
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(f"{what}: TLS failed ({exc.reason or exc})", transient=True, reason="TLS failed")
    if isinstance(exc, socket.gaierror):
        return DeliveryError(f"{what}: the host name could not be resolved ({exc.strerror})", transient=True,
                             reason="host not found")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return DeliveryError(f"{what}: timed out", transient=True, reason="timed out")
    if isinstance(exc, ConnectionRefusedError):
        return DeliveryError(f"{what}: connection refused (is the server up?)", transient=True,
                             reason="connection refused")
    if isinstance(exc, (ConnectionError, EOFError)):
        return DeliveryError(f"{what}: the connection was dropped ({type(exc).__name__})", transient=True,
                             reason="connection dropped")
    if isinstance(exc, OSError):
        return DeliveryError(f"{what}: {exc.strerror or exc}", transient=True)
    return DeliveryError(f"{what}: {type(exc).__name__}: {exc}", transient=True)


#: what a connection test writes (``feeds check``)
PROBE = b"feeds connection test\r\n"


def probe_names(folder: Callable[[str], str] = lambda name: name) -> tuple[str, str]:
    """The probe's two names: hidden (a leading dot) and never ``.csv``, so that no importer picks them up."""
    token = uuid.uuid4().hex[:16]
    return folder(f".feeds-probe-{token}.part"), folder(f".feeds-probe-{token}.done")


def write_rename_delete(written: str, renamed: str, write: Callable[[str], None], rename: Callable[[str, str], None],
                        remove: Callable[[str], None]) -> None:
    """The probe: write a file, rename it, delete it; whatever is left after a failure is removed (best effort)."""
    left: str | None = written
    try:
        write(written)
        rename(written, renamed)
        left = renamed
        remove(renamed)
        left = None
    finally:
        if left is not None:
            try:
                remove(left)
            except Exception:
                pass
