"""Alerts waiting to be sent (SPEC §12): written before they are sent, marked when they are done.

The run's worker decides the alert and writes it here (one row per
recipient), then hands it to the sender thread (``feeds.alerts``); the
sender marks it ``sent`` or ``given up``. A row the sending process never
finished (it crashed, was killed, or exited before its sender was done) is
taken by the next process's sender: a row of this host's dead process at
once, another host's after its lease. Before sending, a sender takes the row
(owner and lease), so two processes never both send it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from .database import Database, dead_owner, owner_name, stamp, utcnow
from .tables import alert_outbox

#: a process sends a row within this time (an alert's tries are bounded) or another process may
LEASE = timedelta(minutes=15)
#: rows that are done are kept this long (what was told, when), then removed
KEEP_DONE = timedelta(days=30)


@dataclass(frozen=True)
class PendingAlert:
    id: int | None  #: None when the ledger could not store it (it is sent all the same)
    feed_id: int
    event: str
    recipient: str  #: "webhook" or an email address
    payload: dict[str, Any]


class AlertOutbox:
    def __init__(self, db: Database):
        self.engine = db.engine

    def add(self, feed_id: int, event: str, recipients: list[str], payload: dict[str, Any]) -> list[PendingAlert]:
        """Keep an alert for each recipient, owned by this process, before it is sent."""
        now = utcnow()
        body = json.dumps(payload, ensure_ascii=False)
        added = []
        with self.engine.begin() as conn:
            for recipient in recipients:
                row_id = conn.execute(insert(alert_outbox).values(
                    feed_id=feed_id, event=event, recipient=recipient, payload=body, created_at=stamp(now),
                    owner=owner_name(), lease_until=stamp(now + LEASE))).inserted_primary_key[0]
                added.append(PendingAlert(row_id, feed_id, event, recipient, payload))
        return added

    def stranded(self, now: datetime | None = None) -> list[PendingAlert]:
        """Alerts not done whose process is gone (this host) or whose lease ran out: the next sender's."""
        now = now or utcnow()
        with self.engine.connect() as conn:
            rows = conn.execute(select(alert_outbox).where(alert_outbox.c.done_at.is_(None))
                                .order_by(alert_outbox.c.id)).all()
        return [PendingAlert(row.id, row.feed_id, row.event, row.recipient, json.loads(row.payload))
                for row in rows if dead_owner(row.owner) or row.lease_until < stamp(now)]

    def take(self, alert_id: int) -> bool:
        """Take a row to send it now: ours, a dead process's or one past its lease, and not done."""
        now = utcnow()
        with self.engine.connect() as conn:
            owner = conn.execute(select(alert_outbox.c.owner).where(and_(
                alert_outbox.c.id == alert_id, alert_outbox.c.done_at.is_(None)))).scalar()
        if owner is None:
            return False
        me = owner_name()
        # Unchanged since it was read (no other process took it meanwhile), and not done.
        conditions = [alert_outbox.c.id == alert_id, alert_outbox.c.done_at.is_(None), alert_outbox.c.owner == owner]
        if owner != me and not dead_owner(owner):
            conditions.append(alert_outbox.c.lease_until < stamp(now))  # a live process's row: past its lease only
        with self.engine.begin() as conn:
            taken = conn.execute(update(alert_outbox).where(and_(*conditions))
                                 .values(owner=me, lease_until=stamp(now + LEASE)))
        return taken.rowcount == 1

    def done(self, alert_id: int, outcome: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(alert_outbox).where(alert_outbox.c.id == alert_id)
                         .values(done_at=stamp(utcnow()), outcome=outcome))

    def outcomes(self, feed_id: int | None = None) -> list[tuple[str, str, str | None]]:
        """(event, recipient, outcome) of every alert kept, oldest first (None: not sent yet)."""
        query = select(alert_outbox.c.event, alert_outbox.c.recipient, alert_outbox.c.outcome)
        if feed_id is not None:
            query = query.where(alert_outbox.c.feed_id == feed_id)
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query.order_by(alert_outbox.c.id)).all()]  # type: ignore[misc]

    def prune(self, now: datetime | None = None) -> None:
        """Forget alerts done more than ``KEEP_DONE`` ago."""
        cutoff = stamp((now or utcnow()) - KEEP_DONE)
        with self.engine.begin() as conn:
            conn.execute(delete(alert_outbox).where(and_(alert_outbox.c.done_at.is_not(None),
                                                         alert_outbox.c.done_at < cutoff)))
