"""What went out (SPEC §13): every feed with its next due time and last run, where it stands, and the last 24 hours.

The same data serves ``feeds status`` (from the ledger and Hub, no daemon)
and the daemon's status page (``web.py``), so the two never disagree. Every
read here is one statement whatever the number of feeds: the page of 10,000
feeds asks the ledger a handful of questions, never one per feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import retry
from .config import HubFeed
from .ledger import parse_stamp, stamp
from .slots import DAY, SLOT, latest_due, next_due, next_wake, slot_of

if TYPE_CHECKING:
    from .ledger import ClaimRow, Ledger, RunRow

SLOTS_SHOWN = 48
#: a wake claims its slot's feeds within seconds; a due slot still unclaimed this long after it began was missed
GRACE = timedelta(minutes=5)
#: what needs someone, in the order the page lists it
PROBLEMS = ("failed", "held", "missed", "running", "unschedulable")
#: up to this many feeds, the ledger is asked about them alone
_FEW = 100
#: the order of every state on the page: problems first
ORDER = {state: n for n, state in enumerate((*PROBLEMS, "due", "delivered", "waiting", "inactive"))}


def last_run_of(run: RunRow | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"run_id": run.run_id, "status": run.status, "ended_at": run.ended_at, "rows": run.rows,
            "error": run.error, "changes": run.changes, "worker": run.worker}


def feed_statuses(feeds: list[HubFeed], ledger: Ledger, now: datetime) -> list[dict[str, Any]]:
    """One object per feed, as ``feeds status --json`` prints it."""
    statuses = []
    last = ledger.runs.last_of(f.id for f in feeds if f.id is not None)
    for feed in feeds:
        due = next_due(feed.timeslot, now) if feed.active else None
        statuses.append({
            "id": feed.id,
            "organisation": feed.organisation,
            "name": feed.name,
            "active": feed.active,
            "method": feed.method,
            "timeslot": feed.timeslot,
            "next_due": stamp(due)[:19] + "Z" if due else None,
            "last_run": last_run_of(last.get(feed.id)) if feed.id is not None else None,
        })
    return statuses


# --- where each feed stands ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """Where a feed stands in its latest due slot (SPEC §5), and when the daemon runs it next.

    ``state``: ``failed`` or ``held`` (the slot's last run), ``missed`` (no
    run although the daemon knew the feed then), ``running``,
    ``unschedulable`` (active without a usable timeslot or id), ``due`` (its
    slot began a moment ago), ``delivered``, ``waiting`` (first seen after
    its latest slot: its next slot is its first) or ``inactive``.
    ``next_run`` is when the daemon runs it next; ``retry`` says that run is
    its latest slot again (every wake tries a failed, held or missed slot
    again within 24 hours, up to ``retry.RUNS_PER_SLOT`` runs), not its next
    due slot.
    """

    feed: HubFeed
    state: str
    slot: datetime | None = None
    tries: int = 0
    next_run: datetime | None = None
    retry: bool = False

    @property
    def problem(self) -> bool:
        return self.state in PROBLEMS


def standings(feeds: list[HubFeed], ledger: Ledger, now: datetime) -> list[Standing]:
    """Every feed's standing from two reads (the last 24 hours' claims, the sightings), whatever the number of feeds.

    Of a few feeds (a feed's own page) the reads ask for those alone; of many, for all (one range, no long IN list).
    """
    few = [f.id for f in feeds if f.id is not None] if len(feeds) <= _FEW else None
    claims = {(claim.feed_id, claim.slot_start): claim for claim in ledger.claims.since(now - DAY, few)}
    seen = ledger.sightings.all(few)
    found = []
    for feed in feeds:
        slot = latest_due(feed.timeslot, now) if feed.timeslot is not None else None
        found.append(standing_of(feed, claims.get((feed.id, slot)), seen.get(feed.id) if feed.id else None, now))
    return found


def standing_of(feed: HubFeed, claim: ClaimRow | None, first_seen: datetime | None, now: datetime) -> Standing:
    """One feed's standing from its latest due slot's claim and when the daemon first saw it."""
    if not feed.active:
        return Standing(feed, "inactive")
    if feed.id is None or feed.timeslot is None:
        return Standing(feed, "unschedulable")
    slot = latest_due(feed.timeslot, now)
    due, wake = next_due(feed.timeslot, now), next_wake(now)
    again = wake < slot + DAY  # the next wake still catches this slot up; at slot + DAY the next slot is due
    if claim is None:
        if first_seen is None or first_seen >= slot + SLOT:  # the daemon did not know it then: nothing was owed
            return Standing(feed, "waiting", slot, 0, due)
        if now < slot + GRACE:
            return Standing(feed, "due", slot, 0, slot)
        return Standing(feed, "missed", slot, 0, wake if again else due, retry=again)
    if claim.status in ("failed", "held"):
        if again and claim.tries < retry.RUNS_PER_SLOT:
            return Standing(feed, claim.status, slot, claim.tries, wake, retry=True)
        return Standing(feed, claim.status, slot, claim.tries, due)
    return Standing(feed, "running" if claim.status == "running" else "delivered", slot, claim.tries, due)


def problems_first(found: list[Standing]) -> list[Standing]:
    """Failed, held, missed, running and unschedulable feeds first, then the rest; Hub's order within each."""
    return sorted(found, key=lambda standing: ORDER[standing.state])


# --- the last 24 hours ------------------------------------------------------------------------------------------


@dataclass
class Timeline:
    """The last ``SLOTS_SHOWN`` slots, oldest first, and each feed's outcome in each (None: no run)."""

    slots: list[datetime]
    outcomes: dict[int, list[dict[str, Any] | None]]


def timeline(feeds: list[HubFeed], ledger: Ledger, now: datetime) -> Timeline:
    """Which of ``feeds`` ran in each of the last 24 hours' slots and how each ended (the newest run of a slot)."""
    current = slot_of(now)
    slots = [current - SLOT * (SLOTS_SHOWN - 1 - n) for n in range(SLOTS_SHOWN)]
    index = {slot: n for n, slot in enumerate(slots)}
    outcomes: dict[int, list[dict[str, Any] | None]] = {f.id: [None] * SLOTS_SHOWN for f in feeds if f.id is not None}
    for run in ledger.runs.since(slots[0], outcomes):  # oldest first: the newest run of a slot wins
        row = outcomes.get(run.feed_id)
        started = parse_stamp(run.started_at)
        slot = parse_stamp(run.slot_start) if run.slot_start else (slot_of(started) if started else None)
        if row is not None and slot in index:
            row[index[slot]] = {"run_id": run.run_id, "status": run.status, "trigger": run.trigger,
                                "error": run.error, "rows": run.rows}
    return Timeline(slots, outcomes)
