"""Where organisations' work is done (SPEC §14): worker processes, so that every core works.

``Processes`` starts ``schedule.processes`` worker processes, spawned (a
fresh interpreter each, nothing inherited from the daemon's threads). Each
builds its own parts (``workshop``) from a ``WorkerSetup`` — the settings
sections a worker reads, no more — and does up to ``threads`` pieces of work
at once. The daemon hands each piece of work to the process with the most
room, over a pipe, and gets its result back the same way: a catalogue is read
in the process that uses it and never crosses a process boundary. A worker
process dies with the daemon (``PR_SET_PDEATHSIG``), so a SIGKILLed daemon
leaves nothing delivering behind it; a worker that dies is replaced, and the
work it had fails with that reason. The daemon's worker processes share one
limit of ``hub.concurrency`` requests in flight.

``InProcess`` does the same work on threads of the daemon itself
(``schedule.processes = 1``): one core, and what the tests of the schedule use.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from .. import collector, failpoints, logs, redact
from ..archive import Archive
from ..changes import GuardSettings
from ..deliver import Deliveries, DeliverySettings
from ..hub import Hubs, HubSettings, OrganisationCredentials
from ..ledger import Ledger
from ..ledger.settings import StateSettings
from ..runner import RunEnvironment
from ..sections import Section
from .settings import ScheduleSettings
from .work import OrganisationWork, WorkResult, Workshop, do

log = logging.getLogger("feeds.daemon")


class InProcess:
    """Work done on threads of the daemon's own process."""

    def __init__(self, shop: Workshop, threads: int):
        self.shop = shop
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="work")
        self._lock = threading.Lock()
        self._busy = 0

    def submit(self, work: OrganisationWork, engine_worker: str | None = None) -> Future[WorkResult]:
        if engine_worker is not None:
            self.shop.engine_worker = engine_worker
        with self._lock:
            self._busy += 1
        future = self._pool.submit(do, work, self.shop)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[WorkResult]) -> None:
        with self._lock:
            self._busy -= 1

    def busy(self) -> int:
        """Organisations' work submitted and not finished: the local queue's and the fleet's alike."""
        with self._lock:
            return self._busy

    def drain(self) -> None:
        self.shop.drain.set()

    def cancel(self) -> None:
        self.shop.cancel.set()

    def close(self) -> None:
        self._pool.shutdown(wait=False)


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker process builds its parts from: the sections it reads, and how it logs."""

    hub: HubSettings
    organisations: dict[int, OrganisationCredentials]
    secret_keys: frozenset[str]
    delivery: DeliverySettings
    method_sections: dict[str, Section]
    guard: GuardSettings
    state: StateSettings
    schedule: ScheduleSettings
    worker: str
    log_level: int = logging.INFO
    log_format: str = "text"
    #: the fleet's liveness of claims (heartbeats) instead of this host's processes
    fleet: bool = False


def workshop(setup: WorkerSetup, limiter: Any = None) -> Workshop:
    """A worker's parts, built from its setup (in the worker process)."""
    env = RunEnvironment(Deliveries(setup.delivery, setup.method_sections), setup.guard,
                         Archive(setup.state.archive_path, setup.state.archive_keep))
    ledger = Ledger(setup.state.database_url)
    shop = Workshop(env, None, ledger, setup.schedule.max_parallel_per_organisation,  # type: ignore[arg-type]
                    setup.schedule.lease(setup.delivery.run_deadline_minutes), setup.worker)
    options: dict[str, Any] = {"secret_keys": setup.secret_keys, "on_request": shop.count_request}
    if limiter is not None:
        options["limiter"] = limiter
    shop.hubs = Hubs.open(setup.hub, setup.organisations, **options)
    if setup.fleet:
        from .fleet import heartbeat_liveness

        shop.liveness = heartbeat_liveness(ledger, setup.schedule.takeover_seconds)
    return shop


def _die_with_the_daemon() -> None:
    """Linux: this process gets SIGKILL when the daemon's thread that started it ends (a SIGKILLed daemon)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _register_secrets(setup: WorkerSetup) -> None:
    sections: list[Any] = [setup.hub, setup.delivery, setup.guard, setup.state, *setup.organisations.values(),
                           *setup.method_sections.values()]
    for section in sections:
        redact.register(*(value for value in dict(section).values() if isinstance(value, SecretStr)))


def worker_main(conn: Any, setup: WorkerSetup, threads: int, limiter: Any) -> None:
    """A worker process: build the parts, then do the work the daemon sends until it says stop."""
    _die_with_the_daemon()
    collector.for_catalogues()
    failpoints.daemon_pid = os.getppid()
    for stop in (signal.SIGINT, signal.SIGTERM):  # the daemon decides when its workers stop (systemd signals all)
        signal.signal(stop, signal.SIG_IGN)
    os.umask(0o077)
    logs.configure(0, setup.log_format)
    logging.getLogger("feeds").setLevel(setup.log_level)
    _register_secrets(setup)
    shop = workshop(setup, limiter)
    shop.env.deliveries.prepare()  # once, here, not in the first slot's runs
    sending = threading.Lock()

    def reply(message: tuple[Any, ...]) -> None:
        with sending:
            try:
                conn.send(message)
            except (OSError, ValueError):
                pass  # the daemon is gone

    def run(task: int, work: OrganisationWork) -> None:
        try:
            reply(("done", task, do(work, shop)))
        except BaseException as exc:  # a bug: the daemon records it, the process goes on
            log.exception("%s: the work failed", work.key)
            reply(("failed", task, f"{type(exc).__name__}: {exc}"))

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="work")
    reply(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message[0] == "work":
            _, task, work, engine_worker = message
            if engine_worker is not None:
                shop.engine_worker = engine_worker
            pool.submit(run, task, work)
        elif message[0] == "drain":
            shop.drain.set()
        elif message[0] == "cancel":
            shop.cancel.set()
        elif message[0] == "stop":
            break
    pool.shutdown(wait=True)
    os._exit(0)  # worker threads blocked on a network call must not hold the exit


@dataclass
class _Process:
    process: Any
    conn: Any
    tasks: set[int]


class Processes:
    """``count`` worker processes, each doing up to ``threads`` pieces of work at once."""

    def __init__(self, setup: WorkerSetup, count: int, threads: int, hub_concurrency: int):
        self._context = multiprocessing.get_context("spawn")
        self._setup, self._threads = setup, threads
        self._limiter = self._context.BoundedSemaphore(hub_concurrency)  # hub.concurrency for the whole daemon
        self._lock = threading.Lock()
        self._futures: dict[int, Future[WorkResult]] = {}
        self._ids = itertools.count(1)
        self._closed = threading.Event()
        self._processes = [self._start() for _ in range(count)]
        self._collector = threading.Thread(target=self._collect, name="workers", daemon=True)
        self._collector.start()

    @staticmethod
    def threads_for(max_parallel: int, count: int) -> int:
        return max(1, math.ceil(max_parallel / count))

    def _start(self) -> _Process:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=worker_main, args=(theirs, self._setup, self._threads, self._limiter),
                                        name="feeds-worker", daemon=True)
        process.start()
        theirs.close()
        return _Process(process, ours, set())

    def submit(self, work: OrganisationWork, engine_worker: str | None = None) -> Future[WorkResult]:
        future: Future[WorkResult] = Future()
        with self._lock:
            task = next(self._ids)
            chosen = min(self._processes, key=lambda p: len(p.tasks))
            chosen.tasks.add(task)
            self._futures[task] = future
            try:
                chosen.conn.send(("work", task, work, engine_worker))
            except (OSError, ValueError) as exc:
                chosen.tasks.discard(task)
                del self._futures[task]
                future.set_exception(RuntimeError(f"the worker process could not be reached ({exc})"))
        return future

    def busy(self) -> int:
        """Organisations' work submitted and not finished: the local queue's and the fleet's alike."""
        with self._lock:
            return len(self._futures)

    def _tell(self, *message: Any) -> None:
        with self._lock:
            for worker in self._processes:
                try:
                    worker.conn.send(message)
                except (OSError, ValueError):
                    pass

    def drain(self) -> None:
        self._tell("drain")

    def cancel(self) -> None:
        self._tell("cancel")

    @property
    def limiter(self) -> Any:
        """The ``hub.concurrency`` semaphore the worker processes share (the daemon's own client shares it too)."""
        return self._limiter

    def pids(self) -> list[int]:
        with self._lock:
            return [worker.process.pid for worker in self._processes]

    def close(self, timeout: float = 10.0) -> None:
        self._tell("stop")
        self._closed.set()
        for worker in list(self._processes):
            worker.process.join(timeout)
            if worker.process.is_alive():
                worker.process.kill()
        self._limiter = None  # its finaliser removes the named semaphore, even when the daemon ends with os._exit

    def _collect(self) -> None:
        """Results back from the workers; a worker that died is replaced and its work failed."""
        while not self._closed.is_set():
            with self._lock:
                by_wait = {w.conn: w for w in self._processes} | {w.process.sentinel: w for w in self._processes}
            for ready in multiprocessing.connection.wait(list(by_wait), timeout=0.5):
                worker = by_wait[ready]
                if ready is worker.conn:
                    try:
                        message = worker.conn.recv()
                    except (EOFError, OSError):
                        message = None
                    if message is not None:
                        self._received(worker, message)
                        continue
                if not self._closed.is_set():
                    self._replace(worker)

    def _received(self, worker: _Process, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind not in ("done", "failed"):
            return
        with self._lock:
            worker.tasks.discard(message[1])
            future = self._futures.pop(message[1], None)
        if future is None:
            return
        if kind == "done":
            future.set_result(message[2])
        else:
            future.set_exception(RuntimeError(message[2]))

    def _replace(self, dead: _Process) -> None:
        dead.process.join(1)
        with self._lock:
            if dead not in self._processes:
                return
            self._processes.remove(dead)
            lost = [self._futures.pop(task) for task in dead.tasks if task in self._futures]
            log.error("a worker process (pid %s) stopped (exit code %s); %d piece(s) of work failed with it; "
                      "starting another", dead.process.pid, dead.process.exitcode, len(lost))
            self._processes.append(self._start())
        for future in lost:
            future.set_exception(RuntimeError(f"the worker process stopped (exit code {dead.process.exitcode})"))
