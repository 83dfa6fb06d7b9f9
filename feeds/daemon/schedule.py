"""The scheduler daemon (SPEC §5): every active feed, once a day, in its timeslot.

``Daemon.wake(now)`` is the whole schedule: it reads the feed list from Hub
afresh, works out which feeds are due (this slot's, and catch-ups of a slot
missed in the last 24 hours since the feed was first seen), claims each
(feed, slot) in the ledger and runs the claimed ones on a bounded pool,
sharing one catalogue. ``service.py`` calls ``wake`` at every :00 and :30
UTC; tests call it with any clock they like.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import redact, retry
from ..config import HubFeed
from ..errors import ConfigError, FeedsError
from ..hub import Credentials, Hubs
from ..ledger import Ledger
from ..metrics import Metrics
from ..runner import RunEnvironment, RunResult, run_feed
from ..slots import DAY, SLOT, latest_due, slot_of, utcnow
from .catalogues import WakeCatalogues
from .fair import FairQueue
from .settings import ScheduleSettings

if TYPE_CHECKING:
    from ..alerts import Alerts

log = logging.getLogger("feeds.daemon")


@dataclass
class Due:
    feed: HubFeed
    slot: datetime
    trigger: str
    #: the credentials of the feed's organisation; None when it has none (the run then fails, recorded)
    source: Credentials | None = None

    @property
    def feed_id(self) -> int:
        assert self.feed.id is not None
        return self.feed.id


@dataclass
class Daemon:
    """The schedule, the pool of runs and the shutdown, around ``wake``."""

    env: RunEnvironment
    schedule: ScheduleSettings
    hubs: Hubs
    ledger: Ledger
    alerts: Alerts | None = None
    clock: Callable[[], datetime] = utcnow
    metrics: Metrics | None = None
    sleep: Callable[[float], None] = time.sleep
    run_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.last_feeds: list[HubFeed] = []  # the feeds of the last wake, for the status page
        self._queue = FairQueue(self.schedule.max_parallel_per_organisation)
        self._busy = 0  # workers running a feed
        self.pool = ThreadPoolExecutor(max_workers=self.schedule.max_parallel, thread_name_prefix="feed")
        self.cancel = threading.Event()  # set when the shutdown's grace is over
        self.stopping = threading.Event()
        self._futures: set[Future[Any]] = set()
        self._active: dict[tuple[int, datetime], Any] = {}
        self._lock = threading.Lock()
        self.last_wake: datetime | None = None
        self.started_at = self.clock()
        self._lease = timedelta(minutes=self.schedule.lease_minutes)

    # --- the schedule --------------------------------------------------------------

    def wake(self, now: datetime | None = None) -> list[Future[Any]]:
        """Work out what is due now, claim it, and start it; return the started runs."""
        if self.stopping.is_set():
            return []
        now = now or self.clock()
        self.last_wake = now
        if self.metrics:
            self.metrics.wakes.inc()
            self.metrics.last_wake.set(now.timestamp())
        slot = slot_of(now)
        self.ledger.claims.release_dead(now)
        abandoned = self.ledger.claims.abandon_expired(now) + self.ledger.runs.abandon_dead(now)
        if abandoned:
            log.warning("%d run(s) were abandoned by a process that stopped; their slots may run again", abandoned)
        feeds = self._read_feeds(now, slot)
        if feeds is None:
            return []
        due = self._due(feeds, now, slot)
        if not due:
            log.info("wake at %s: nothing due", now.strftime("%H:%M"))
            return []
        log.info("wake at %s: %d feed(s) due (%s)", now.strftime("%H:%M"), len(due),
                 ", ".join(f"{d.feed_id}{' catch-up' if d.trigger == 'catch-up' else ''}" for d in due))
        catalogues = WakeCatalogues(self.metrics)
        for item in due:
            try:
                item.source = self.hubs.for_organisation(item.feed.organisation)
                catalogues.expect(item.source)
            except ConfigError:
                pass  # the run fails with that sentence, before anything is fetched or sent
        started: list[Future[Any]] = []
        with self._lock:
            for item in due:
                future: Future[Any] = Future()
                self._futures.add(future)
                future.add_done_callback(self._forget)
                self._queue.put(item.feed.organisation, (item, catalogues, future))
                started.append(future)
        self._dispatch()
        return started

    def _dispatch(self) -> None:
        """Start waiting runs while workers are free, organisations in turn."""
        with self._lock:
            while self._busy < self.schedule.max_parallel and not self.stopping.is_set():
                taken = self._queue.take()
                if taken is None:
                    return
                self._busy += 1
                self.pool.submit(self._work, *taken)

    def _work(self, organisation: Any, entry: tuple[Due, WakeCatalogues, Future[Any]]) -> None:
        item, catalogues, future = entry
        try:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(self._run(item, catalogues))
                except BaseException as exc:
                    future.set_exception(exc)
            else:
                catalogues.release(item.source)
        finally:
            with self._lock:
                self._busy -= 1
                self._queue.done(organisation)
            self._dispatch()

    def _read_feeds(self, now: datetime, slot: datetime) -> list[HubFeed] | None:
        """The feed list from Hub; a Hub outage is retried (``retry.FEED_LIST``) until the slot is nearly over."""
        deadline = slot + SLOT - timedelta(minutes=2)
        pauses = retry.FEED_LIST.pauses()
        while True:
            try:
                self.hubs.identify()  # whom each credential set belongs to, asked once
                self.last_feeds = [HubFeed.read(raw) for raw in self.hubs.list_feeds()]  # the status page's
                return self.last_feeds
            except FeedsError as exc:
                remaining = (deadline - self.clock()).total_seconds()
                if remaining <= 0 or self.stopping.is_set():
                    log.error("could not read the feed list from Hub in the %s slot: %s; trying again at the next wake",
                              slot.strftime("%H:%M"), exc)
                    return None
                wait = min(next(pauses), remaining)
                log.warning("could not read the feed list from Hub (%s); trying again in %.0f s", exc, wait)
                self.sleep(wait)

    def _due(self, feeds: list[HubFeed], now: datetime, slot: datetime) -> list[Due]:
        due = []
        for feed in feeds:
            feed_id = feed.id
            if feed_id is None:
                log.error("Hub sent a feed without a usable id (%s); it is skipped",
                          redact.redact(str(feed.raw.get("id"))))
                continue
            if not feed.active:
                continue
            # When this ledger first saw the feed active: a fresh install, or a new feed, does not
            # catch up slots from before it was known.
            first_seen = self.ledger.sightings.first_seen(feed_id, now)
            if feed.timeslot is None:
                log.error("feed %s has no usable timeslot (%s); it cannot be scheduled until it is fixed on Hub",
                          feed_id, redact.redact(str(feed.raw.get("timeslot"))))
                continue
            feed_slot = latest_due(feed.timeslot, now)
            if feed_slot == slot:
                trigger = "schedule"
            elif now - feed_slot < DAY and feed_slot >= first_seen:
                trigger = "catch-up"
            else:
                continue
            if self.ledger.claims.status(feed_id, feed_slot) == "delivered":
                continue
            with self._lock:
                if (feed_id, feed_slot) in self._active:
                    continue
            due.append(Due(feed, feed_slot, trigger))
        return due

    def _run(self, item: Due, catalogues: WakeCatalogues) -> RunResult | None:
        try:
            return self._claim_and_run(item, catalogues)
        finally:
            catalogues.release(item.source)

    def _claim_and_run(self, item: Due, catalogues: WakeCatalogues) -> RunResult | None:
        key = (item.feed_id, item.slot)
        if self.stopping.is_set():
            return None
        if not self.ledger.claims.take(item.feed_id, item.slot, self._lease, now=self.clock()):
            log.info("feed %s, slot %s: claimed elsewhere or already done", item.feed_id, item.slot.strftime("%H:%M"))
            return None
        with self._lock:
            self._active[key] = None
        if self.metrics:
            self.metrics.running.inc()
        renewer = threading.Timer(self._lease.total_seconds() / 3, self._renew, args=(item,))
        renewer.daemon = True
        renewer.start()
        try:
            result = run_feed(self.env, self.hubs, self.ledger, item.feed_id, trigger=item.trigger, force=True,
                              raw=dict(item.feed.raw), catalogue=catalogues, slot_start=item.slot, cancel=self.cancel,
                              on_started=lambda run_id: self.ledger.claims.attach_run(item.feed_id, item.slot, run_id),
                              **self.run_options)
            outcome = result.status if result.status in ("delivered", "held") else "failed"
            self.ledger.claims.settle(item.feed_id, item.slot, outcome)
            final = outcome != "failed" or self.ledger.claims.tries(item.feed_id, item.slot) >= retry.RUNS_PER_SLOT
            if self.alerts is not None:
                self.alerts.after_run(self.ledger, result, final=final)
            if self.metrics:
                self.metrics.run_finished(result)
            return result
        except Exception:
            log.exception("feed %s: the run could not be recorded", item.feed_id)
            self.ledger.claims.settle(item.feed_id, item.slot, "failed")
            return None
        finally:
            renewer.cancel()
            with self._lock:
                self._active.pop(key, None)
            if self.metrics:
                self.metrics.running.dec()

    def _renew(self, item: Due) -> None:
        with self._lock:
            if (item.feed_id, item.slot) not in self._active:
                return
        try:
            self.ledger.claims.renew(item.feed_id, item.slot, self._lease)
        except Exception as exc:
            log.warning("feed %s: could not renew its claim (%s)", item.feed_id, exc)
        timer = threading.Timer(self._lease.total_seconds() / 3, self._renew, args=(item,))
        timer.daemon = True
        timer.start()

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._futures.discard(future)

    # --- waiting and stopping --------------------------------------------------------

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every started run has finished (tests, shutdown)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._futures)
            if not pending:
                return True
            for future in pending:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    future.result(timeout=left)
                except Exception:
                    pass
                if deadline is not None and time.monotonic() >= deadline:
                    with self._lock:
                        return not self._futures

    def stop(self, grace: float) -> list[tuple[int, datetime]]:
        """Stop new work, let running deliveries finish for ``grace`` seconds, then cut them off.

        Returns the (feed, slot) pairs that were cut off; they are recorded as
        failed in the ledger, so a restart catches them up.
        """
        self.stopping.set()
        with self._lock:
            waiting = self._queue.drain()
        for item, catalogues, _ in waiting:
            catalogues.release(item.source)
        not_started = sum(1 for _, _, future in waiting if future.cancel())
        if not_started:
            log.warning("shutting down: %d due feed(s) not started; they will be caught up", not_started)
        if self.wait_idle(grace):
            self.pool.shutdown(wait=False)
            return []
        log.warning("shutting down: cutting off deliveries still running after %.1f s", grace)
        with self._lock:
            cut = list(self._active)
        self.cancel.set()  # uploads stop at their next block and record themselves
        self.wait_idle(10.0)
        with self._lock:
            stuck = list(self._active)  # blocked in a network call: recorded from here
        now = self.clock()
        for feed_id, slot in stuck:
            self.ledger.runs.fail_running(feed_id, slot, "cut off: the daemon was stopped before the run finished", now)
            self.ledger.claims.settle(feed_id, slot, "failed")
            log.warning("feed %s, slot %s: cut off by the shutdown; it will be caught up", feed_id, slot.strftime("%H:%M"))
        self.pool.shutdown(wait=False)
        return cut

    def health(self) -> tuple[bool, dict[str, Any]]:
        now = self.clock()
        last = self.last_wake
        fresh = last is not None and now - last < SLOT + timedelta(minutes=5)
        with self._lock:
            running = len(self._active)
        detail = {
            "last_wake": last.isoformat() if last else None,
            "running": running,
            "stopping": self.stopping.is_set(),
        }
        return fresh and not self.stopping.is_set(), detail


