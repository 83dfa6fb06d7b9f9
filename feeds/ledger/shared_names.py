"""File names every organisation writes to (SITC's one folder): each belongs to the first organisation
that delivered under it (SPEC §11).

Names are kept and compared as SITC's server may see them: case-folded and in
Unicode NFC, so that ``Stock.csv``, ``STOCK.CSV``, ``stock.csv`` (and ``Stöck.csv``
written with a combining diaeresis) are one name with one owner.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any, NamedTuple

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.exc import IntegrityError

from .database import Database, stamp, utcnow
from .tables import shared_names

log = logging.getLogger("feeds.ledger")


class Owner(NamedTuple):
    organisation: int
    feed_id: int
    claimed_at: str


def folded(name: str) -> str:
    """``name`` as it is kept and compared: case-folded, in Unicode NFC (canonical caseless matching)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", name).casefold())


class SharedNames:
    def __init__(self, db: Database):
        self.engine = db.engine

    def take(self, method: str, name: str, organisation: int, feed_id: int) -> Owner | None:
        """Take ``name`` for ``organisation``; the other organisation that owns it, or None when it is ours.

        The claim is made as the upload starts, so two organisations in one
        slot cannot both take it.
        """
        key = folded(name)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(shared_names).values(method=method, name=key, organisation=organisation,
                                                         feed_id=feed_id, claimed_at=stamp(utcnow())))
            return None
        except IntegrityError:
            pass
        with self.engine.connect() as conn:
            row = conn.execute(select(shared_names.c.organisation, shared_names.c.feed_id, shared_names.c.claimed_at)
                               .where(and_(shared_names.c.method == method, shared_names.c.name == key))).first()
        if row is None or row[0] == organisation:
            return None
        return Owner(*row)


def fold_kept_names(conn: Any) -> None:
    """Bring the names a ledger of schema 2 kept exactly to their folded form (a migration, in its transaction).

    When forms of one name were taken by different organisations (the exact
    match let them), the first to claim it keeps it, and the others are told
    in the log: their feeds fail before the upload from now on, naming the
    owner, until they choose another name.
    """
    kept: dict[tuple[str, str], list[Any]] = {}
    for row in conn.execute(select(shared_names)).mappings():
        kept.setdefault((row["method"], folded(row["name"])), []).append(row)
    for (method, key), claims in kept.items():
        if [claim["name"] for claim in claims] == [key]:
            continue
        first = min(claims, key=lambda claim: (claim["claimed_at"], claim["feed_id"]))
        conn.execute(delete(shared_names).where(and_(shared_names.c.method == method,
                                                     shared_names.c.name.in_([c["name"] for c in claims]))))
        conn.execute(insert(shared_names).values(method=method, name=key, organisation=first["organisation"],
                                                 feed_id=first["feed_id"], claimed_at=first["claimed_at"]))
        for other in claims:
            if other["organisation"] != first["organisation"]:
                log.warning("the %s file name %r of organisation %s is the name %r of organisation %s, who took it "
                            "first (names are compared case-folded): organisation %s's feed %s fails until it "
                            "chooses another name", method, other["name"], other["organisation"], first["name"],
                            first["organisation"], other["organisation"], other["feed_id"])
