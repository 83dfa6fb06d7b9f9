"""Slot claims (SPEC §5, §14): (feed, slot start) is delivered at most once.

A claim is a row with that primary key: inserting it is how a worker takes a
slot, so two workers on one database, in one daemon or in a fleet, can never
both run the same feed for the same slot. A delivered claim is never taken
again, nor an "unconfirmed" one (its file may have landed: not sent twice);
a failed or held one is, up to ``retry.RUNS_PER_SLOT`` runs.

A claim still ``running`` belongs to its owner while the owner lives. Who is
alive is not this module's knowledge: the caller says (``dead``): the process
table for this host's processes, the task engine's heartbeats for a fleet's
daemons. A claim that nobody can vouch for is abandoned when its lease ends;
the lease is a bound (longer than any run may last), never renewed. Whoever
takes over a claim learns the run it interrupted (``Taken.previous_run``), so
that it can settle it: a file that was already made visible is not sent again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from .. import retry
from .database import Database, dead_owner, owner_name, parse_stamp, stamp, utcnow
from .runs import Runs
from .tables import claims

#: whether the holder of a claim (its owner "host:pid:token" and its engine worker id) is gone
Liveness = Callable[[str | None, str | None], bool]


def this_host(owner: str | None, worker: str | None) -> bool:
    """The embedded judgement: a process of this host that no longer runs is gone; others only by lease."""
    return dead_owner(owner)


@dataclass(frozen=True)
class Taken:
    """A claim taken: its try number, and the run of a holder that stopped before finishing, if any."""

    tries: int
    previous_run: int | None = None


@dataclass(frozen=True)
class ClaimRow:
    """A slot's claim: how its last run ended (or ``running``) and how many runs it has had."""

    feed_id: int
    slot_start: datetime
    status: str
    tries: int


class Claims:
    def __init__(self, db: Database, runs: Runs):
        self.engine = db.engine
        self._runs = runs

    def take(self, feed_id: int, slot_start: datetime, lease: timedelta, now: datetime | None = None,
             owner: str | None = None, worker: str | None = None, dead: Liveness = this_host) -> Taken | None:
        """Take (feed, slot) for a run; None when it is not to be run now.

        None when the slot is delivered, held by a live claim, or has been
        tried ``retry.RUNS_PER_SLOT`` times already (a feed that keeps failing
        is not retried every half hour until its next day's slot).
        """
        return self._take(feed_id, slot_start, lease, now, owner, worker, dead, manual=False)

    def take_manual(self, feed_id: int, slot_start: datetime, lease: timedelta, now: datetime | None = None,
                    owner: str | None = None, dead: Liveness = this_host) -> Taken | str:
        """A manual run takes the slot it runs in, whatever its tries; "delivered" or "busy" when it may not.

        "delivered": the slot was delivered already (the manual run is a resend
        and leaves the claim alone); "busy": a live run holds it now.
        """
        taken = self._take(feed_id, slot_start, lease, now, owner, None, dead, manual=True)
        if taken is not None:
            return taken
        return "delivered" if self.status(feed_id, slot_start) in ("delivered", "unconfirmed") else "busy"

    def _take(self, feed_id: int, slot_start: datetime, lease: timedelta, now: datetime | None, owner: str | None,
              worker: str | None, dead: Liveness, manual: bool) -> Taken | None:
        now = now or utcnow()
        owner = owner or owner_name()
        slot, until = stamp(slot_start), stamp(now + lease)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(claims).values(feed_id=feed_id, slot_start=slot, status="running",
                                                   lease_until=until, owner=owner, worker=worker, tries=1))
            return Taken(1)
        except IntegrityError:
            pass
        key = and_(claims.c.feed_id == feed_id, claims.c.slot_start == slot)
        with self.engine.connect() as conn:
            row = conn.execute(select(claims.c.status, claims.c.tries, claims.c.owner, claims.c.worker,
                                      claims.c.lease_until, claims.c.run_id).where(key)).first()
        if row is None or row.status in ("delivered", "unconfirmed"):
            return None
        previous = None
        if row.status == "running":
            if not (row.lease_until < stamp(now) or dead(row.owner, row.worker)):
                return None  # its holder is alive: it is being run right now
            previous = row.run_id  # taken over even past the last try: its run must be settled
        elif row.tries >= retry.RUNS_PER_SLOT and not manual:
            return None
        with self.engine.begin() as conn:
            taken = conn.execute(update(claims).where(and_(
                key, claims.c.status == row.status, claims.c.tries == row.tries, claims.c.owner == row.owner,
            )).values(status="running", lease_until=until, owner=owner, worker=worker, run_id=None,
                      tries=claims.c.tries + 1))
        return Taken(row.tries + 1, previous) if taken.rowcount == 1 else None

    def attach_run(self, feed_id: int, slot_start: datetime, run_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(claims).where(and_(claims.c.feed_id == feed_id,
                                                   claims.c.slot_start == stamp(slot_start)))
                         .values(run_id=run_id))

    def settle(self, feed_id: int, slot_start: datetime, status: str) -> None:
        """Mark a claim delivered, failed or held when its run ends (inserting it for a slot nobody claimed)."""
        slot = stamp(slot_start)
        with self.engine.begin() as conn:
            done = conn.execute(update(claims).where(and_(claims.c.feed_id == feed_id, claims.c.slot_start == slot))
                                .values(status=status))
        if done.rowcount == 0:
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(claims).values(feed_id=feed_id, slot_start=slot, status=status,
                                                       lease_until=slot, owner=owner_name(), tries=1))
            except IntegrityError:
                self.settle(feed_id, slot_start, status)

    def status(self, feed_id: int, slot_start: datetime) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(claims.c.status).where(and_(
                claims.c.feed_id == feed_id, claims.c.slot_start == stamp(slot_start)))).scalar()

    def tries(self, feed_id: int, slot_start: datetime) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(claims.c.tries).where(and_(
                claims.c.feed_id == feed_id, claims.c.slot_start == stamp(slot_start)))).scalar() or 0

    def since(self, when: datetime, feed_ids: list[int] | None = None) -> list[ClaimRow]:
        """The claims of the slots from ``when`` on (of ``feed_ids`` only, when given): each feed's latest due slot."""
        query = select(claims.c.feed_id, claims.c.slot_start, claims.c.status, claims.c.tries).where(
            claims.c.slot_start >= stamp(when))
        if feed_ids is not None:
            query = query.where(claims.c.feed_id.in_(feed_ids))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [ClaimRow(feed_id, parse_stamp(slot), status, tries)  # type: ignore[arg-type]
                for feed_id, slot, status, tries in rows]

    def statuses(self, slot_starts: dict[int, datetime], now: datetime | None = None,
                 dead: Liveness = this_host) -> dict[int, tuple[str, int]]:
        """(status, tries) of each feed's claim on its slot, for the feeds that have one, in one query.

        A ``running`` claim whose holder is gone (its lease ended, or it is
        known dead) is "abandoned": it may be taken over.
        """
        if not slot_starts:
            return {}
        now_text = stamp(now or utcnow())
        with self.engine.connect() as conn:
            rows = conn.execute(select(claims.c.feed_id, claims.c.slot_start, claims.c.status, claims.c.tries,
                                       claims.c.owner, claims.c.worker, claims.c.lease_until)
                                .where(claims.c.feed_id.in_(list(slot_starts)))).all()
        wanted = {feed_id: stamp(slot) for feed_id, slot in slot_starts.items()}
        found = {}
        for feed_id, slot, status, tries, owner, worker, until in rows:
            if wanted.get(feed_id) != slot:
                continue
            if status == "running" and (until < now_text or dead(owner, worker)):  # type: ignore[operator]
                status = "abandoned"
            found[feed_id] = (status, tries)
        return found

    # --- runs whose holder stopped -------------------------------------------------------------

    def abandon_expired(self, now: datetime | None = None, dead: Liveness = this_host) -> int:
        """Runs whose claim's holder is gone (lease ended, or known dead) end failed: they cannot finish."""
        now = now or utcnow()
        with self.engine.connect() as conn:
            rows = conn.execute(select(claims.c.run_id, claims.c.owner, claims.c.worker, claims.c.lease_until)
                                .where(and_(claims.c.status == "running", claims.c.run_id.is_not(None)))).all()
        expired = [run_id for run_id, owner, worker, until in rows if until < stamp(now) or dead(owner, worker)]
        self._runs.fail(expired, "abandoned: the process running it stopped before it finished", now)
        return len(expired)
