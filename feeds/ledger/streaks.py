"""Alert streaks (SPEC §12): each feed's state, "ok", "failed" or "held", so that a streak alerts once."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from .database import Database, stamp, utcnow
from .tables import streaks


class Streaks:
    def __init__(self, db: Database):
        self.engine = db.engine

    def get(self, feed_id: int) -> str:
        with self.engine.connect() as conn:
            return conn.execute(select(streaks.c.state).where(streaks.c.feed_id == feed_id)).scalar() or "ok"

    def set(self, feed_id: int, state: str) -> bool:
        """Set a feed's streak; True when it changed (an alert is due)."""
        now = stamp(utcnow())
        with self.engine.begin() as conn:
            old = conn.execute(select(streaks.c.state).where(streaks.c.feed_id == feed_id)).scalar()
            if old == state or (old is None and state == "ok"):
                return False
            if old is None:
                conn.execute(insert(streaks).values(feed_id=feed_id, state=state, since=now))
            else:
                conn.execute(update(streaks).where(streaks.c.feed_id == feed_id).values(state=state, since=now))
            return True
