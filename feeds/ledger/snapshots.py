"""Snapshots of delivered and held files (SPEC §12): what the next run compares its file with."""

from __future__ import annotations

from sqlalchemy import and_, delete, insert, select

from ..changes import Snapshot
from .database import Database
from .tables import runs, snapshots


class Snapshots:
    def __init__(self, db: Database):
        self.engine = db.engine

    def store(self, run_id: int, feed_id: int, snapshot: Snapshot) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(snapshots).values(run_id=run_id, feed_id=feed_id, rows=snapshot.rows,
                                                  empty_stock=snapshot.empty_stock, data=snapshot.data))

    def of_run(self, run_id: int) -> Snapshot | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(snapshots.c.rows, snapshots.c.empty_stock, snapshots.c.data)
                               .where(snapshots.c.run_id == run_id)).first()
        return Snapshot(row[0], row[1], bytes(row[2])) if row else None

    def last_delivered(self, feed_id: int) -> Snapshot | None:
        """The snapshot of the feed's newest delivered run: what the resellers have now."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(snapshots.c.rows, snapshots.c.empty_stock, snapshots.c.data)
                .select_from(snapshots.join(runs, runs.c.id == snapshots.c.run_id))
                .where(and_(snapshots.c.feed_id == feed_id, runs.c.status == "delivered"))
                .order_by(snapshots.c.run_id.desc()).limit(1)
            ).first()
        return Snapshot(row[0], row[1], bytes(row[2])) if row else None

    def prune(self, feed_id: int, delivered_run_id: int) -> None:
        """Only the newest delivered snapshot and those of later runs (a held file to release) are needed."""
        with self.engine.begin() as conn:
            conn.execute(delete(snapshots).where(and_(snapshots.c.feed_id == feed_id,
                                                      snapshots.c.run_id < delivered_run_id)))
