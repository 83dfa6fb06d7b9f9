"""What went out (SPEC §13): every feed with its next due time and last run, and the last 24 hours' slots.

The same data serves ``feeds status`` (from the ledger and Hub, no daemon)
and the daemon's status page (``web.py``), so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .config import HubFeed
from .ledger import parse_stamp, stamp
from .slots import SLOT, next_due, slot_of

if TYPE_CHECKING:
    from .ledger import Ledger, RunRow

SLOTS_SHOWN = 48


def last_run_of(run: RunRow | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"run_id": run.run_id, "status": run.status, "ended_at": run.ended_at, "rows": run.rows,
            "error": run.error, "changes": run.changes}


@dataclass
class Timeline:
    """The last ``SLOTS_SHOWN`` slots, oldest first, and each feed's outcome in each (None: no run)."""

    slots: list[datetime]
    outcomes: dict[int, list[dict[str, Any] | None]]


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


def timeline(feeds: list[HubFeed], ledger: Ledger, now: datetime) -> Timeline:
    """Which feeds ran in each of the last 24 hours' slots and how each ended (the newest run of a slot)."""
    current = slot_of(now)
    slots = [current - SLOT * (SLOTS_SHOWN - 1 - n) for n in range(SLOTS_SHOWN)]
    index = {slot: n for n, slot in enumerate(slots)}
    outcomes: dict[int, list[dict[str, Any] | None]] = {f.id: [None] * SLOTS_SHOWN for f in feeds if f.id is not None}
    for run in ledger.runs.since(slots[0]):  # oldest first: the newest run of a slot wins
        row = outcomes.get(run.feed_id)
        started = parse_stamp(run.started_at)
        slot = parse_stamp(run.slot_start) if run.slot_start else (slot_of(started) if started else None)
        if row is not None and slot in index:
            row[index[slot]] = {"run_id": run.run_id, "status": run.status, "trigger": run.trigger,
                                "error": run.error, "rows": run.rows}
    return Timeline(slots, outcomes)
