"""Slot claims (SPEC §5): (feed, slot start) is delivered at most once.

A claim is a row with that primary key: inserting it is how a daemon takes a
slot, so two daemons on one database can never both run the same feed for
the same slot. A delivered claim is never taken again; a failed or held one
is, up to ``retry.RUNS_PER_SLOT`` runs; a claim still ``running`` past its
lease counts as abandoned and may be taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from .. import retry
from .database import Database, dead_owner, owner_name, parse_stamp, stamp, utcnow
from .runs import Runs
from .tables import claims


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
             owner: str | None = None) -> bool:
        """Take (feed, slot) for a run.

        False when the slot is delivered, held by a live claim, or has been
        tried ``retry.RUNS_PER_SLOT`` times already (a feed that keeps failing
        is not retried every half hour until its next day's slot).
        """
        now = now or utcnow()
        owner = owner or owner_name()
        slot, until = stamp(slot_start), stamp(now + lease)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(claims).values(feed_id=feed_id, slot_start=slot, status="running",
                                                   lease_until=until, owner=owner, tries=1))
            return True
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(claims)
                .where(and_(
                    claims.c.feed_id == feed_id,
                    claims.c.slot_start == slot,
                    claims.c.tries < retry.RUNS_PER_SLOT,
                    or_(claims.c.status.in_(("failed", "held")),
                        and_(claims.c.status == "running", claims.c.lease_until < stamp(now))),
                ))
                .values(status="running", lease_until=until, owner=owner, run_id=None, tries=claims.c.tries + 1)
            )
            return taken.rowcount == 1

    def renew(self, feed_id: int, slot_start: datetime, lease: timedelta, owner: str | None = None) -> None:
        """Extend a live claim's lease (a long delivery is not abandoned while it runs)."""
        until = stamp(utcnow() + lease)
        with self.engine.begin() as conn:
            conn.execute(update(claims).where(and_(
                claims.c.feed_id == feed_id, claims.c.slot_start == stamp(slot_start),
                claims.c.status == "running", claims.c.owner == (owner or owner_name()))).values(lease_until=until))

    def attach_run(self, feed_id: int, slot_start: datetime, run_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(claims).where(and_(claims.c.feed_id == feed_id,
                                                   claims.c.slot_start == stamp(slot_start)))
                         .values(run_id=run_id))

    def settle(self, feed_id: int, slot_start: datetime, status: str) -> None:
        """Mark a claim delivered, failed or held when its run ends."""
        with self.engine.begin() as conn:
            conn.execute(update(claims).where(and_(claims.c.feed_id == feed_id,
                                                   claims.c.slot_start == stamp(slot_start)))
                         .values(status=status))

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

    # --- claims whose process stopped -------------------------------------------------------

    def release_dead(self, now: datetime | None = None) -> int:
        """Claims of this host whose process is gone (a crash, a SIGKILL): expired now, their runs failed.

        Claims of other hosts wait for their lease.
        """
        now = now or utcnow()
        with self.engine.connect() as conn:
            rows = conn.execute(select(claims.c.feed_id, claims.c.slot_start, claims.c.owner)
                                .where(claims.c.status == "running")).all()
        dead = [(feed_id, slot) for feed_id, slot, owner in rows if dead_owner(owner)]
        past = stamp(now - timedelta(seconds=1))
        for feed_id, slot in dead:
            with self.engine.begin() as conn:
                conn.execute(update(claims).where(and_(claims.c.feed_id == feed_id, claims.c.slot_start == slot,
                                                       claims.c.status == "running")).values(lease_until=past))
        if dead:
            self.abandon_expired(now)
        return len(dead)

    def abandon_expired(self, now: datetime | None = None) -> int:
        """Runs whose claim lease ran out while ``running`` end failed (their process crashed)."""
        now = now or utcnow()
        with self.engine.connect() as conn:
            expired = conn.execute(select(claims.c.run_id).where(and_(
                claims.c.status == "running", claims.c.lease_until < stamp(now),
                claims.c.run_id.is_not(None)))).scalars().all()
        self._runs.fail(list(expired), "abandoned: the process running it stopped before it finished (lease expired)",
                        now)
        return len(expired)
