"""Temporary names on servers that a killed upload may have left: the next run removes them."""

from __future__ import annotations

from sqlalchemy import and_, delete, insert, select

from .database import Database
from .tables import leftovers


class Leftovers:
    def __init__(self, db: Database):
        self.engine = db.engine

    def get(self, feed_id: int, target: str) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(leftovers.c.path).where(and_(
                leftovers.c.feed_id == feed_id, leftovers.c.target == target))).scalars())

    def set(self, feed_id: int, target: str, paths: list[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(leftovers).where(and_(leftovers.c.feed_id == feed_id, leftovers.c.target == target)))
            for path in dict.fromkeys(paths):
                conn.execute(insert(leftovers).values(feed_id=feed_id, target=target, path=path))
