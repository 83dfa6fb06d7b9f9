"""The schedule (SPEC §5, §14): what is due, handed over organisation by organisation.

``Daemon.plan(now)`` is the whole schedule: it reads the feed list from Hub
afresh and works out which feeds are due (this slot's, and catch-ups of a
slot missed in the last 24 hours since the feed was first seen), grouped by
organisation: one ``OrganisationWork`` each. It only decides; the work is
done by worker processes (``workers.py``), handed over by the embedded queue
(``local.py``, ``wake``) or, in a fleet, by the task engine (``fleet.py``).
``finished`` turns a piece of work's result into metrics and alerts.
``service.py`` wakes it at every :00 and :30 UTC; tests call ``wake`` with
any clock they like.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import threading

from .. import redact, retry
from ..config import HubFeed, masked
from ..errors import FeedsError
from ..hub import Hubs
from ..ledger import Ledger
from ..metrics import Metrics
from ..runner import RunEnvironment, RunResult
from ..slots import DAY, SLOT, latest_due, slot_of, utcnow
from .local import LocalQueue
from .settings import ScheduleSettings
from .work import DueFeed, OrganisationWork, WorkResult, Workshop
from .workers import InProcess

if TYPE_CHECKING:
    from ..alerts import Alerts

log = logging.getLogger("feeds.daemon")


@dataclass
class Daemon:
    """The schedule around ``plan``: the embedded queue, the results, the shutdown and the daemon's health."""

    env: RunEnvironment
    schedule: ScheduleSettings
    hubs: Hubs
    ledger: Ledger
    alerts: Alerts | None = None
    clock: Callable[[], datetime] = utcnow
    metrics: Metrics | None = None
    sleep: Callable[[float], None] = time.sleep
    run_options: dict[str, Any] = field(default_factory=dict)
    #: where work is done: worker processes, or (by default) threads of this process
    pool: Any = None
    #: the daemon as runs record it: "host:pid"
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    def __post_init__(self) -> None:
        self.last_feeds: list[HubFeed] = []  # the feeds of the last wake, for the status page
        self.shop = Workshop(self.env, self.hubs, self.ledger, self.schedule.max_parallel_per_organisation,
                             self.schedule.lease(self.env.deliveries.settings.run_deadline_minutes), self.worker,
                             run_options=self.run_options, clock=self.clock)
        self.pool = self.pool or InProcess(self.shop, self.schedule.max_parallel)
        self.queue = LocalQueue(self.pool, self.schedule.max_parallel, self.finished)
        self.stopping = threading.Event()
        self._futures: set[Future[Any]] = set()
        self._lock = threading.Lock()
        self.last_wake: datetime | None = None
        self.started_at = self.clock()
        #: work handed back at a shutdown, for the engine that hands it on
        self.cut: list[tuple[int, datetime]] = []
        #: what the fleet's engine says of the fleet (jobs queued, daemons alive); None: this daemon alone
        self.fleet_counts: Callable[[], dict[str, int]] | None = None

    # --- the schedule --------------------------------------------------------------

    def wake(self, now: datetime | None = None) -> list[Future[Any]]:
        """Plan what is due now and queue it; each future gives the runs of one organisation's work."""
        if self.stopping.is_set():
            return []
        futures = [self.queue.put(work) for work in self.plan(now)]
        with self._lock:
            self._futures.update(futures)
        for future in futures:
            future.add_done_callback(self._forget)
        return futures

    def plan(self, now: datetime | None = None) -> list[OrganisationWork]:
        """What is due now, one piece of work per organisation."""
        now = now or self.clock()
        self.last_wake = now
        if self.metrics:
            self.metrics.wakes.inc()
            self.metrics.last_wake.set(now.timestamp())
        slot = slot_of(now)
        abandoned = self.ledger.claims.abandon_expired(now, self.shop.liveness) + self.ledger.runs.abandon_dead(now)
        if abandoned:
            log.warning("%d run(s) were abandoned by a process that stopped; their slots may run again", abandoned)
        feeds = self._read_feeds(slot)
        if feeds is None:
            return []
        due = self._due(feeds, now, slot)
        if not due:
            log.info("wake at %s: nothing due", now.strftime("%H:%M"))
            return []
        log.info("wake at %s: %d feed(s) due (%s)", now.strftime("%H:%M"), len(due),
                 ", ".join(f"{d.feed_id}{' catch-up' if d.trigger == 'catch-up' else ''}" for d in due))
        by_organisation: dict[int | None, list[DueFeed]] = defaultdict(list)
        organisations = {feed.id: feed.organisation for feed in feeds}
        for item in due:
            by_organisation[organisations.get(item.feed_id)].append(item)
        return [OrganisationWork(organisation, slot, tuple(items)) for organisation, items in by_organisation.items()]

    def _read_feeds(self, slot: datetime) -> list[HubFeed] | None:
        """The feed list from Hub; a Hub outage is retried (``retry.FEED_LIST``) until the slot is nearly over."""
        deadline = slot + SLOT - timedelta(minutes=2)
        pauses = retry.FEED_LIST.pauses()
        while True:
            try:
                self.hubs.identify()  # whom each credential set belongs to, asked once
                raws = self.hubs.list_feeds()
                shown = [masked(raw) for raw in raws]  # the status pages', no secrets
                self.last_feeds = [HubFeed.read(raw) for raw in shown]
                self.ledger.listing.replace(shown)
                return [HubFeed.read(raw) for raw in raws]
            except FeedsError as exc:
                remaining = (deadline - self.clock()).total_seconds()
                if remaining <= 0 or self.stopping.is_set():
                    log.error("could not read the feed list from Hub in the %s slot: %s; trying again at the next wake",
                              slot.strftime("%H:%M"), exc)
                    return None
                wait = min(next(pauses), remaining)
                log.warning("could not read the feed list from Hub (%s); trying again in %.0f s", exc, wait)
                self.sleep(wait)

    def _due(self, feeds: list[HubFeed], now: datetime, slot: datetime) -> list[DueFeed]:
        usable = []
        for feed in feeds:
            if feed.id is None:
                log.error("Hub sent a feed without a usable id (%s); it is skipped",
                          redact.redact(str(feed.raw.get("id"))))
            elif feed.active and feed.timeslot is None:
                log.error("feed %s has no usable timeslot (%s); it cannot be scheduled until it is fixed on Hub",
                          feed.id, redact.redact(str(feed.raw.get("timeslot"))))
            elif feed.active:
                usable.append(feed)
        # When this ledger first saw the feed active: a fresh install, or a new feed, does not catch up slots from
        # before it was known; a feed first seen during its own slot counts for that slot.
        first_seen = self.ledger.sightings.first_seen_all((f.id for f in usable), now)  # type: ignore[misc]
        if self.metrics:  # the ledger is the truth: deliveries before a restart, or by another daemon, count
            self.metrics.restore(self.ledger.runs.last_of(first_seen, delivered=True), first_seen)
        slots = {feed.id: latest_due(feed.timeslot, now) for feed in usable}  # type: ignore[arg-type]
        claims = self.ledger.claims.statuses(slots, now, self.shop.liveness)  # type: ignore[arg-type]
        due = []
        for feed in usable:
            feed_slot = slots[feed.id]
            if feed_slot == slot:
                trigger = "schedule"
            elif now - feed_slot < DAY and feed_slot >= slot_of(first_seen[feed.id]):  # type: ignore[index]
                trigger = "catch-up"
            else:
                continue
            status, tries = claims.get(feed.id, (None, 0))  # type: ignore[arg-type]
            if status in ("delivered", "unconfirmed", "running") or (status != "abandoned"
                                                                      and tries >= retry.RUNS_PER_SLOT):
                continue  # done (or maybe done), being run by a live worker, or tried enough this slot
            due.append(DueFeed(feed.id, feed_slot, trigger, dict(feed.raw)))  # type: ignore[arg-type]
        return due

    # --- results ---------------------------------------------------------------------

    def finished(self, result: WorkResult) -> list[RunResult]:
        """A piece of work's result: metrics and alerts here, in the daemon, off the workers' path."""
        if self.metrics:
            self.metrics.work_finished(result)
        for outcome in result.runs:
            if self.alerts is not None:
                self.alerts.after_run(self.ledger, outcome.result, final=outcome.final)
        with self._lock:
            self.cut.extend((due.feed_id, due.slot) for due in result.remaining)
        return [outcome.result for outcome in result.runs]

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._futures.discard(future)

    # --- waiting and stopping --------------------------------------------------------

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every queued piece of work has finished (tests, shutdown)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [f for f in self._futures if not f.done()]
            if not pending:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            try:
                pending[0].result(timeout=left)
            except Exception:
                pass

    def stop(self, grace: float) -> list[tuple[int, datetime]]:
        """Stop new work, let running deliveries finish for ``grace`` seconds, then cut them off.

        Returns the (feed, slot) pairs that were cut off or handed back; those
        cut off are recorded as failed in the ledger, so a restart catches them up.
        """
        self.stopping.set()
        dropped = self.queue.close()
        if dropped:
            log.warning("shutting down: %d organisation(s)' work not started; it will be caught up", dropped)
        self.pool.drain()  # running work starts no new feed
        if not self.wait_idle(grace):
            log.warning("shutting down: cutting off deliveries still running after %.1f s", grace)
            self.pool.cancel()  # uploads stop at their next block and record themselves
            self.wait_idle(10.0)
        for run in self.ledger.runs.running_of(self.worker):  # blocked in a network call: recorded from here
            self.ledger.runs.fail([run.run_id], "cut off: the daemon was stopped before the run finished")
            if run.slot_start:
                slot = datetime.fromisoformat(run.slot_start.replace("Z", "+00:00"))
                self.ledger.claims.settle(run.feed_id, slot, "failed")
                self.cut.append((run.feed_id, slot))
                log.warning("feed %s, slot %s: cut off by the shutdown; it will be caught up", run.feed_id,
                            slot.strftime("%H:%M"))
        if getattr(self.pool, "limiter", None) is not None:
            self.hubs.share_limit(None)  # the workers' shared semaphore is removed with them
        self.pool.close()
        return sorted(set(self.cut))

    def health(self) -> tuple[bool, dict[str, Any]]:
        now = self.clock()
        last = self.last_wake
        fresh = last is not None and now - last < SLOT + timedelta(minutes=5)
        detail: dict[str, Any] = {
            "last_wake": last.isoformat() if last else None,
            "running": self.pool.busy(),  # work in progress, from the local queue or the fleet's
            "queued": self.queue.depth(),
            "stopping": self.stopping.is_set(),
        }
        if self.fleet_counts is not None:
            try:
                detail.update(self.fleet_counts())  # the fleet's queue, and how many daemons are alive
            except Exception as exc:
                detail["fleet"] = f"unknown ({type(exc).__name__})"
            fresh = True  # in a fleet one daemon wakes per slot: this one is healthy while it takes work
        return fresh and not self.stopping.is_set(), detail
