"""Time in slots (SPEC §5): every 30 minutes from 00:00 UTC; a feed is due once a day at its timeslot."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

SLOT = timedelta(minutes=30)
DAY = timedelta(days=1)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def slot_of(now: datetime) -> datetime:
    """The start of the 30-minute slot that holds ``now``."""
    now = now.astimezone(timezone.utc)
    return now.replace(minute=now.minute - now.minute % 30, second=0, microsecond=0)


def latest_due(timeslot: int, now: datetime) -> datetime:
    """The latest start of a feed's timeslot at or before ``now``."""
    today = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    due = today + timedelta(minutes=timeslot)
    return due if due <= now else due - DAY


def next_due(timeslot: int | None, now: datetime) -> datetime | None:
    """The next start of a feed's timeslot after ``now`` (UTC)."""
    if timeslot is None:
        return None
    today = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    due = today + timedelta(minutes=timeslot)
    return due if due > now else due + DAY


def next_wake(now: datetime) -> datetime:
    """The daemon's next wake after ``now``: the next :00 or :30 UTC."""
    return slot_of(now) + SLOT
