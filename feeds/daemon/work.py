"""One organisation's work in one slot (SPEC §14): its catalogue read once, each of its due feeds run from it.

``OrganisationWork`` is what the schedule hands over (organisation, slot,
the due feeds with their own slots and triggers); ``do`` is what a worker
does with it, in whatever process it runs: for each due feed, take its
(feed, slot) claim in the ledger, then run it from the organisation's
catalogue, which is read on first need and never twice. A claim that a
stopped worker left is taken over, and the run it interrupted is settled
first: a file that was already made visible is not sent again.

Nothing here holds more than one organisation's catalogue, and nothing here
crosses a process boundary but the work and its result.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .. import retry
from ..catalog import Catalogue, load_catalogue
from ..errors import FeedsError, HubError
from ..hub import Credentials, Hubs
from ..ledger import Ledger
from ..ledger.claims import Liveness, this_host
from ..runner import RunEnvironment, RunResult, run_feed, settle_interrupted
from ..slots import utcnow

log = logging.getLogger("feeds.daemon")


@dataclass(frozen=True)
class DueFeed:
    """A feed due now: its id, the slot it is due for, why (schedule or catch-up), and its configuration
    when it travels in memory (None: the worker reads it from Hub again, so no password is stored in a queue)."""

    feed_id: int
    slot: datetime
    trigger: str
    raw: dict[str, Any] | None = None

    def without_configuration(self) -> DueFeed:
        return DueFeed(self.feed_id, self.slot, self.trigger)


@dataclass(frozen=True)
class OrganisationWork:
    """An organisation's due feeds in one slot: the unit of work of the daemon and of the fleet."""

    organisation: int | None
    slot: datetime
    feeds: tuple[DueFeed, ...]

    @property
    def key(self) -> str:
        return f"organisation {self.organisation} in the slot of {self.slot:%Y-%m-%d %H:%M}"


@dataclass
class RunOutcome:
    """A run's result, and whether it was the slot's last try (a failure then alerts)."""

    result: RunResult
    final: bool


@dataclass
class WorkResult:
    """What a piece of work did: its runs, what it did not start (a shutdown hands it back), the catalogue."""

    organisation: int | None
    runs: list[RunOutcome] = field(default_factory=list)
    remaining: list[DueFeed] = field(default_factory=list)
    catalogue: str | None = None  #: "ok" or "failed" when it was read, None when no feed needed it
    hub_requests: Counter[tuple[str, str, str]] = field(default_factory=Counter)


@dataclass
class Workshop:
    """What a worker needs to do organisations' work; one per worker process (or one in the daemon)."""

    env: RunEnvironment
    hubs: Hubs
    ledger: Ledger
    per_organisation: int
    #: a claim nobody can vouch for is abandoned after this long
    lease: timedelta
    #: the daemon runs are recorded under: "host:pid"
    worker: str
    #: who is gone, for claims left by a stopped worker (this host's processes; a fleet's heartbeats)
    liveness: Liveness = this_host
    #: the engine's id of the worker holding claims (a fleet's), recorded with each claim
    engine_worker: str | None = None
    #: set at a shutdown: no feed is started any more, the rest is handed back
    drain: threading.Event = field(default_factory=threading.Event)
    #: set when the shutdown's grace is over: uploads stop before their rename
    cancel: threading.Event = field(default_factory=threading.Event)
    run_options: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], datetime] = utcnow
    #: Hub requests since the last result: (method, endpoint, status) -> count
    requests: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count_request(self, method: str, path: str, status: int | None) -> None:
        parts = path.strip("/").split("/")
        endpoint = f"/{parts[0]}/{{id}}" if len(parts) > 1 and parts[1].isdigit() else path
        with self._lock:
            self.requests[(method, endpoint, str(status) if status else "error")] += 1

    def take_requests(self) -> Counter[tuple[str, str, str]]:
        with self._lock:
            taken, self.requests = self.requests, Counter()
        return taken


class _OneCatalogue:
    """The organisation's catalogue in this work: read on first need, once, shared by its feeds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: Catalogue | None = None
        self._error: Exception | None = None
        self.outcome: str | None = None

    def __call__(self, source: Credentials) -> Catalogue:
        with self._lock:
            if self._value is None and self._error is None:
                try:
                    self._value = load_catalogue(source.client)
                    self.outcome = "ok"
                except Exception as exc:  # every feed of the work reports it; none reads again
                    self._error, self.outcome = exc, "failed"
            if self._error is not None:
                if isinstance(self._error, FeedsError):
                    raise HubError(str(self._error))
                raise HubError(f"the catalogue could not be read: {type(self._error).__name__}: {self._error}")
            assert self._value is not None
            return self._value


def configurations(work: OrganisationWork, hubs: Hubs) -> dict[int, dict[str, Any]]:
    """The due feeds' configurations: as they came, or read from Hub again with the organisation's credentials."""
    given = {due.feed_id: due.raw for due in work.feeds if due.raw is not None}
    if len(given) == len(work.feeds):
        return given
    organisation = () if work.organisation is None else (work.organisation,)
    try:
        listed = hubs.for_organisation(work.organisation).client.list_feeds(organisations=organisation)
    except FeedsError:  # no credentials of its own: any set that sees its feeds (the runs then fail, recorded)
        listed = hubs.list_feeds(organisations=organisation)
    return {**{raw["id"]: raw for raw in listed if isinstance(raw.get("id"), int)}, **given}


def do(work: OrganisationWork, shop: Workshop) -> WorkResult:
    """Run an organisation's due feeds; the catalogue is read only if a feed could be claimed."""
    result = WorkResult(work.organisation)
    ledger = shop.ledger
    open_feeds = [due for due in work.feeds if ledger.claims.status(due.feed_id, due.slot) != "delivered"]
    if not open_feeds:
        return result
    try:
        raws = configurations(work, shop.hubs)
    except FeedsError as exc:
        log.error("%s: the feed configurations could not be read from Hub (%s); tried again at the next wake",
                  work.key, exc)
        return result
    catalogue = _OneCatalogue()
    lock = threading.Lock()

    def one(due: DueFeed) -> None:
        outcome = _run_one(due, raws.get(due.feed_id), shop, catalogue)
        with lock:
            if outcome is None or isinstance(outcome, DueFeed):
                if outcome is not None:
                    result.remaining.append(outcome)
            else:
                result.runs.append(outcome)

    workers = min(shop.per_organisation, len(open_feeds))
    if workers == 1:
        for due in open_feeds:
            one(due)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feed") as pool:
            list(pool.map(one, open_feeds))
    result.catalogue = catalogue.outcome
    result.hub_requests = shop.take_requests()
    return result


def _run_one(due: DueFeed, raw: dict[str, Any] | None, shop: Workshop,
             catalogue: Callable[[Credentials], Catalogue]) -> RunOutcome | DueFeed | None:
    """One due feed: claimed, its interrupted run settled, run. A DueFeed back: not started (handed back)."""
    if shop.drain.is_set():
        return due
    ledger = shop.ledger
    if raw is None:
        log.warning("feed %s is due but no longer on Hub; nothing is run", due.feed_id)
        return None
    taken = ledger.claims.take(due.feed_id, due.slot, shop.lease, now=shop.clock(), worker=shop.engine_worker,
                               dead=shop.liveness)
    if taken is None:
        log.info("feed %s, slot %s: claimed elsewhere or already done", due.feed_id, due.slot.strftime("%H:%M"))
        return None
    if taken.previous_run is not None:
        try:
            previous = settle_interrupted(shop.env, ledger, raw, taken.previous_run)
        except FeedsError as exc:  # it cannot be told whether its file landed: nothing is sent again now
            log.error("feed %s: %s", due.feed_id, exc)
            ledger.claims.settle(due.feed_id, due.slot, "failed")
            return None
        if previous in ("delivered", "unconfirmed"):
            ledger.claims.settle(due.feed_id, due.slot, previous)
            return None
    if taken.tries > retry.RUNS_PER_SLOT:  # the interrupted run was the slot's last try: settled, not run again
        log.error("feed %s, slot %s: its last try was interrupted and its file was not made visible; it is not "
                  "tried again this slot", due.feed_id, due.slot.strftime("%H:%M"))
        ledger.claims.settle(due.feed_id, due.slot, "failed")
        return None
    try:
        result = run_feed(shop.env, shop.hubs, ledger, due.feed_id, trigger=due.trigger, force=True, raw=raw,
                          catalogue=catalogue, slot_start=due.slot, cancel=shop.cancel, worker=shop.worker,
                          on_started=lambda run_id: ledger.claims.attach_run(due.feed_id, due.slot, run_id),
                          **shop.run_options)
    except Exception:
        log.exception("feed %s: the run could not be recorded", due.feed_id)
        ledger.claims.settle(due.feed_id, due.slot, "failed")
        return None
    status = result.status if result.status in ("delivered", "held") else "failed"
    ledger.claims.settle(due.feed_id, due.slot, "unconfirmed" if result.unconfirmed else status)
    if status == "failed" and shop.cancel.is_set() and not result.unconfirmed:
        return due  # cut off by a shutdown: handed back with the rest
    last_try = result.unconfirmed or taken.tries >= retry.RUNS_PER_SLOT
    return RunOutcome(result, final=status != "failed" or last_try)
