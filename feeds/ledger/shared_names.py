"""File names every organisation writes to (SITC's one folder): each belongs to the first organisation
that delivered under it (SPEC §11)."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import and_, insert, select
from sqlalchemy.exc import IntegrityError

from .database import Database, stamp, utcnow
from .tables import shared_names


class Owner(NamedTuple):
    organisation: int
    feed_id: int
    claimed_at: str


class SharedNames:
    def __init__(self, db: Database):
        self.engine = db.engine

    def take(self, method: str, name: str, organisation: int, feed_id: int) -> Owner | None:
        """Take ``name`` for ``organisation``; the other organisation that owns it, or None when it is ours.

        The claim is made as the upload starts, so two organisations in one
        slot cannot both take it.
        """
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(shared_names).values(method=method, name=name, organisation=organisation,
                                                         feed_id=feed_id, claimed_at=stamp(utcnow())))
            return None
        except IntegrityError:
            pass
        with self.engine.connect() as conn:
            row = conn.execute(select(shared_names.c.organisation, shared_names.c.feed_id, shared_names.c.claimed_at)
                               .where(and_(shared_names.c.method == method, shared_names.c.name == name))).first()
        if row is None or row[0] == organisation:
            return None
        return Owner(*row)
