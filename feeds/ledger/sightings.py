"""When the ledger first saw each feed active: a fresh install, or a new feed, catches up no earlier slot."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from .database import Database, parse_stamp, stamp
from .tables import feeds_seen


class Sightings:
    def __init__(self, db: Database):
        self.engine = db.engine

    def first_seen(self, feed_id: int, now: datetime) -> datetime:
        """When the feed was first seen; ``now`` is remembered on the first call."""
        with self.engine.connect() as conn:
            found = conn.execute(select(feeds_seen.c.first_seen).where(feeds_seen.c.feed_id == feed_id)).scalar()
        if found:
            return parse_stamp(found)  # type: ignore[return-value]
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(feeds_seen).values(feed_id=feed_id, first_seen=stamp(now)))
            return now
        except IntegrityError:
            return self.first_seen(feed_id, now)

    def first_seen_all(self, feed_ids: Iterable[int], now: datetime) -> dict[int, datetime]:
        """``first_seen`` of many feeds in two queries: those never seen are remembered as seen ``now``."""
        wanted = set(feed_ids)
        with self.engine.connect() as conn:
            found = {fid: parse_stamp(when) for fid, when in conn.execute(
                select(feeds_seen.c.feed_id, feeds_seen.c.first_seen).where(feeds_seen.c.feed_id.in_(wanted)))}
        new = wanted - set(found)
        if new:
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(feeds_seen), [{"feed_id": fid, "first_seen": stamp(now)} for fid in new])
            except IntegrityError:  # another daemon saw some at the same time: read them one by one
                return {fid: self.first_seen(fid, now) for fid in wanted}
            found.update({fid: now for fid in new})
        return found  # type: ignore[return-value]

    def all(self, feed_ids: list[int] | None = None) -> dict[int, datetime]:
        """When each feed (of ``feed_ids``, when given) was first seen; read only: the status page remembers nothing."""
        query = select(feeds_seen.c.feed_id, feeds_seen.c.first_seen)
        if feed_ids is not None:
            query = query.where(feeds_seen.c.feed_id.in_(feed_ids))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {feed_id: parse_stamp(first) for feed_id, first in rows}  # type: ignore[misc]
