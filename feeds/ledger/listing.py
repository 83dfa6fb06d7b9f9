"""The feed list of the last wake, secrets masked: what every daemon's status page shows (SPEC §13)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from .database import Database, stamp, utcnow
from .tables import feed_list


class Listing:
    def __init__(self, db: Database):
        self.engine = db.engine

    def replace(self, masked: Iterable[Mapping[str, Any]], now: datetime | None = None) -> None:
        """The feed list as the last wake read it (configurations with their secrets masked)."""
        seen = stamp(now or utcnow())
        rows = [{"feed_id": raw["id"], "raw": json.dumps(dict(raw), default=str), "seen_at": seen}
                for raw in masked if isinstance(raw.get("id"), int) and not isinstance(raw.get("id"), bool)]
        with self.engine.begin() as conn:
            conn.execute(delete(feed_list))
            if rows:
                conn.execute(insert(feed_list), rows)

    def all(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [json.loads(raw) for raw in conn.execute(select(feed_list.c.raw).order_by(feed_list.c.feed_id))
                    .scalars()]
