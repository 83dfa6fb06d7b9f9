"""A fleet of daemons on one PostgreSQL (SPEC §14), on procrastinate: an existing task engine, no broker.

Every daemon started with the same settings and a PostgreSQL
``state.database`` joins the fleet. procrastinate keeps the queue in that
database:

- ``feeds.wake`` is a periodic task at every :00 and :30 UTC; procrastinate
  defers each tick once for the whole fleet, and one daemon plans the slot
  (``Daemon.plan``) and defers one ``feeds.organisation`` job per
  organisation with due feeds. A daemon that starts defers a wake too (its
  catch-up); a wake already waiting is not queued twice.
- ``feeds.organisation`` jobs carry ids and slots, never a configuration (no
  password is stored in the queue); ``lock`` = the organisation, so that one
  organisation's work runs one piece at a time across the fleet, and
  ``queueing_lock`` = organisation and slot, so that it waits once. Any
  daemon takes any job when it has room; its worker processes do it.
- Takeover: each daemon's worker sends a heartbeat; a job whose worker has
  sent none for ``schedule.takeover_seconds`` is put back in the queue (by
  whichever daemon's reaper gets there first, under an advisory lock), and
  the daemon that takes it takes the dead worker's claims over too
  (``heartbeat_liveness``), settling what they had already sent.
- SIGTERM: the worker fetches no more jobs (they stay queued for the
  others); the running ones start no new feed and hand what they had not
  started back as a new job at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from ..ledger.claims import Liveness, this_host
from .work import DueFeed, OrganisationWork

if TYPE_CHECKING:
    from ..ledger import Ledger
    from .schedule import Daemon

log = logging.getLogger("feeds.fleet")

WAKE_TASK, WORK_TASK = "feeds.wake", "feeds.organisation"
QUEUE = "feeds"
#: a wake comes before organisations' work when both wait
WAKE_PRIORITY = 10
#: advisory locks: applying procrastinate's schema; one reaper of the fleet at a time
SCHEMA_LOCK, REAPER_LOCK = 0x6665656473, 0x6665656472
#: how often each daemon looks for work of a dead daemon
REAPER_EVERY = 2.0


def conninfo(url: str) -> str:
    """``postgresql+psycopg://…`` (SQLAlchemy's) as libpq takes it."""
    scheme, sep, rest = url.partition("://")
    return "postgresql" + sep + rest if scheme.startswith("postgresql") else url


def ensure_schema(url: str) -> bool:
    """procrastinate's tables, created once, safely when several daemons start together; True if created here."""
    import psycopg
    from procrastinate.schema import SchemaManager

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is not None:  # type: ignore[index]
                return False
            conn.execute(SchemaManager.get_schema())  # one script, one transaction
            return True
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


def heartbeat_liveness(ledger: Ledger, takeover_seconds: float) -> Liveness:
    """Who is gone, for claims: a worker without a heartbeat for ``takeover_seconds``, or this host's dead process."""
    cache: dict[str, Any] = {"at": 0.0, "alive": set()}
    lock = threading.Lock()

    def alive() -> set[str]:
        with lock:
            if time.monotonic() - cache["at"] > 1.0:
                with ledger.db.engine.connect() as conn:
                    rows = conn.execute(text("SELECT id FROM procrastinate_workers WHERE last_heartbeat > "
                                             "now() - make_interval(secs => :seconds)"), {"seconds": takeover_seconds})
                    cache["alive"] = {str(row[0]) for row in rows}
                cache["at"] = time.monotonic()
            return cache["alive"]  # type: ignore[no-any-return]

    def dead(owner: str | None, worker: str | None) -> bool:
        return this_host(owner, worker) or (worker is not None and worker not in alive())

    return dead


def _as_job(work: OrganisationWork) -> dict[str, Any]:
    return {"organisation": work.organisation, "slot": work.slot.isoformat(),
            "feeds": [[due.feed_id, due.slot.isoformat(), due.trigger] for due in work.feeds]}


def _as_work(organisation: int | None, slot: str, feeds: list[list[Any]]) -> OrganisationWork:
    return OrganisationWork(organisation, datetime.fromisoformat(slot),
                            tuple(DueFeed(int(f[0]), datetime.fromisoformat(f[1]), str(f[2])) for f in feeds))


class Fleet:
    """This daemon's place in the fleet: the task engine's worker, deferring, the reaper and the counts."""

    def __init__(self, daemon: Daemon, url: str, takeover_seconds: float):
        import procrastinate

        self.daemon = daemon
        self.url = url
        self.takeover = takeover_seconds
        self.heartbeat = max(1.0, min(10.0, takeover_seconds / 5))
        ensure_schema(url)
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(
            conninfo=conninfo(url), min_size=1, max_size=6, kwargs={"application_name": "feeds-daemon"}))
        self.deferrer = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(
            conninfo=conninfo(url), min_size=1, max_size=2, kwargs={"application_name": "feeds-defer"}))
        self.deferrer.open()
        self._register()
        self.concurrency = daemon.schedule.max_parallel + 1  # one place for the wake, when it comes
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-worker", daemon=True)

    # --- the tasks ------------------------------------------------------------------

    def _register(self) -> None:
        daemon = self.daemon

        @self.app.periodic(cron="0,30 * * * *", periodic_id="slots", priority=WAKE_PRIORITY, queueing_lock="wake")
        @self.app.task(name=WAKE_TASK, queue=QUEUE, pass_context=True)
        def wake(context: Any, timestamp: int | None = None) -> int:
            return self.wake(datetime.now(timezone.utc))

        @self.app.task(name=WORK_TASK, queue=QUEUE, pass_context=True)
        def organisation(context: Any, organisation: int | None, slot: str,
                         feeds: list[list[Any]]) -> int:
            work = _as_work(organisation, slot, feeds)
            result = daemon.pool.submit(work, engine_worker=str(context.job.worker_id)).result()
            daemon.finished(result)
            if result.remaining:  # a shutdown: what was not started goes back to the fleet at once
                self.defer(OrganisationWork(work.organisation, work.slot, tuple(result.remaining)))
                log.info("%s: %d feed(s) handed back to the fleet", work.key, len(result.remaining))
            return len(result.runs)

    def wake(self, now: datetime) -> int:
        """Plan the slot and queue one job per organisation with due feeds; how many were queued."""
        queued = 0
        for work in self.daemon.plan(now):
            queued += self.defer(work)
        return queued

    def defer(self, work: OrganisationWork) -> int:
        from procrastinate.exceptions import AlreadyEnqueued

        try:
            self.deferrer.configure_task(
                WORK_TASK, queue=QUEUE, lock=f"organisation:{work.organisation}",
                queueing_lock=f"organisation:{work.organisation}:{work.slot.isoformat()}",
            ).defer(**_as_job(work))
            return 1
        except AlreadyEnqueued:
            return 0  # the same organisation's work of this slot already waits

    def defer_wake(self) -> None:
        """A wake for this daemon's start (its catch-up); one waiting wake is enough for the fleet."""
        from procrastinate.exceptions import AlreadyEnqueued

        try:
            self.deferrer.configure_task(WAKE_TASK, queue=QUEUE, priority=WAKE_PRIORITY,
                                         queueing_lock="wake").defer()
        except AlreadyEnqueued:
            pass

    # --- the worker -------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("the fleet's worker stopped")
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        # sync tasks run on the loop's default executor: one thread per job the worker may take at once
        self._loop.set_default_executor(ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="job"))
        async with self.app.open_async():
            reaper = asyncio.create_task(self._reap(), name="reaper")
            self._task = asyncio.create_task(self.app.run_worker_async(
                queues=[QUEUE], concurrency=self.concurrency, install_signal_handlers=False,
                fetch_job_polling_interval=1.0, update_heartbeat_interval=self.heartbeat,
                shutdown_graceful_timeout=None, name="feeds"))
            self._ready.set()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            finally:
                reaper.cancel()

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(REAPER_EVERY)
            try:
                await self._take_over()
            except Exception as exc:
                log.warning("could not look for the work of stopped daemons (%s)", exc)

    async def _take_over(self) -> None:
        """Jobs whose worker sent no heartbeat for ``takeover_seconds``: back in the queue, the workers woken."""
        manager = self.app.job_manager
        async with self.app.connector.pool.connection() as conn:  # type: ignore[attr-defined]
            async with conn.transaction():
                locked = await (await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (REAPER_LOCK,))).fetchone()
                if not locked[0]:
                    return
                for job in await manager.get_stalled_jobs(seconds_since_heartbeat=self.takeover):
                    # A later wake may have queued the same organisation's slot again meanwhile: this job, the
                    # older, goes first (one lock, oldest first); the newer finds its feeds done.
                    await self.app.connector.execute_query_async(
                        "UPDATE procrastinate_jobs SET queueing_lock = NULL WHERE id = %(id)s", id=job.id)
                    await manager.retry_job(job)
                    log.warning("took over the work of a daemon that stopped: job %s (%s)", job.id, job.call_string)
                    payload = json.dumps({"type": "job_inserted", "job_id": job.id})
                    for channel in ("procrastinate_any_queue_v1", f"procrastinate_queue_v1#{job.queue}"):
                        await self.app.connector.execute_query_async(  # a retry wakes nobody by itself
                            "SELECT pg_notify(%(channel)s, %(payload)s)", channel=channel, payload=payload)

    def stop(self, timeout: float | None = None) -> None:
        """Fetch no more jobs (they stay queued for the others); running jobs finish; the worker leaves."""
        self._ready.wait(30)
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout)

    def running(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        self.deferrer.close()

    # --- what the fleet looks like -------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Jobs waiting in the queue, and daemons with a recent heartbeat."""
        with self.daemon.ledger.db.engine.connect() as conn:
            queued = conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo' AND "
                                       "task_name = :task"), {"task": WORK_TASK}).scalar() or 0
            alive = conn.execute(text("SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > "
                                      "now() - make_interval(secs => :seconds)"),
                                 {"seconds": self.takeover}).scalar() or 0
        return {"queued": int(queued), "daemons": int(alive)}
