"""Runs and their attempts (SPEC §6): one row per run, written before the work starts.

A run is ``running`` from its first row on and ends ``delivered``,
``failed`` or ``held``. A run whose process died stays ``running`` until
something that can tell settles it (``abandon_dead``, ``fail_running``).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, and_, cast, func, insert, select, union, update
from sqlalchemy.sql import FromClause

from .. import redact
from .database import Database, dead_owner, owner_name, stamp, utcnow
from .tables import attempts, runs

#: the fields of a run as ``history --json`` prints them (SPEC §6), in that order
FIELDS = ("run_id", "feed_id", "organisation", "feed_name", "slot_start", "trigger", "started_at", "ended_at",
          "status", "method", "rows", "bytes", "sha256", "filename", "destination", "attempts", "error",
          "archive_path", "host", "worker", "changes", "released_by")
#: fields whose text may carry a secret: masked as they are written
_MASKED = ("error", "destination")


@dataclass(frozen=True)
class RunRow:
    """One run as the ledger holds it."""

    run_id: int
    feed_id: int
    organisation: int | None
    feed_name: str | None
    slot_start: str | None
    trigger: str
    started_at: str
    ended_at: str | None
    status: str
    method: str | None
    rows: int | None
    bytes: int | None
    sha256: str | None
    filename: str | None
    destination: str | None
    attempts: int
    error: str | None
    archive_path: str | None
    host: str | None
    worker: str | None
    changes: dict[str, Any] | None
    owner: str | None = None
    #: what the run was making visible (a temporary name on the server) when it last wrote its row
    publishing: str | None = None

    #: a held run: the run that released it (None: not released)
    released_by: int | None = None

    @classmethod
    def of(cls, row: Any) -> RunRow:
        values = {name: row[name] for name in FIELDS if name not in ("run_id", "changes", "released_by")}
        released = row["released_by"]
        return cls(run_id=row["id"], changes=json.loads(row["changes"]) if row["changes"] else None,
                   owner=row["owner"], publishing=row["publishing"],
                   released_by=int(released) if released and released.isdigit() else None, **values)

    def to_json(self) -> dict[str, Any]:
        """The run as ``history --json`` prints it."""
        data = asdict(self)
        return {name: data[name] for name in FIELDS}


@dataclass(frozen=True)
class AttemptRow:
    number: int
    started_at: str
    ended_at: str
    error: str | None


class Runs:
    def __init__(self, db: Database):
        self.engine = db.engine

    def start(self, feed_id: int, trigger: str, *, organisation: int | None = None, feed_name: str | None = None,
              method: str | None = None, slot_start: datetime | None = None,
              started_at: datetime | None = None, worker: str | None = None) -> int:
        """A new ``running`` run; its id. ``worker`` is the daemon that runs it ("host:pid"; this process's)."""
        with self.engine.begin() as conn:
            result = conn.execute(insert(runs).values(
                feed_id=feed_id, organisation=organisation, feed_name=feed_name, method=method,
                slot_start=stamp(slot_start), trigger=trigger, started_at=stamp(started_at or utcnow()),
                status="running", attempts=0, host=socket.gethostname(), pid=os.getpid(), owner=owner_name(),
                worker=worker or f"{socket.gethostname()}:{os.getpid()}",
            ))
            return int(result.inserted_primary_key[0])

    def update(self, run_id: int, **fields: Any) -> None:
        values = {k: (redact.redact(v) if isinstance(v, str) and k in _MASKED else v) for k, v in fields.items()}
        if "error" in values:
            values["error"] = redact.stored(values["error"])  # a server's 50 KB reply is kept as 500 characters
        if isinstance(values.get("changes"), dict):
            values["changes"] = json.dumps(values["changes"])
        for key in ("ended_at", "slot_start", "started_at"):
            if isinstance(values.get(key), datetime):
                values[key] = stamp(values[key])
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def record_attempt(self, run_id: int, number: int, started_at: datetime, ended_at: datetime,
                       error: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(attempts).values(
                run_id=run_id, number=number, started_at=stamp(started_at), ended_at=stamp(ended_at),
                error=redact.stored(error) or None,
            ))
            conn.execute(update(runs).where(runs.c.id == run_id).values(attempts=number))

    # --- reading ------------------------------------------------------------------------

    def get(self, run_id: int) -> RunRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
        return RunRow.of(row) if row else None

    def history(self, feed_id: int | None = None, limit: int = 20) -> list[RunRow]:
        """The newest runs first."""
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if feed_id is not None:
            query = query.where(runs.c.feed_id == feed_id)
        with self.engine.connect() as conn:
            return [RunRow.of(row) for row in conn.execute(query).mappings()]

    def last_of(self, feed_ids: Iterable[int], *, archived: bool = False, delivered: bool = False) -> dict[int, RunRow]:
        """The newest run of each of ``feed_ids`` (``archived``: the newest whose file was archived;
        ``delivered``: the newest delivered).

        One statement for any number of feeds, and each feed's newest run is
        one step down the (feed_id, id) index: a ``GROUP BY`` would read every
        run of the year (10,000 feeds: 3.6 million index entries).
        """
        ids = sorted(set(feed_ids))
        if not ids:
            return {}
        wanted = _each(self.engine.dialect.name, ids)
        older = runs.alias("older")
        newest = (select(older.c.id).where(older.c.feed_id == cast(wanted.c.value, Integer))
                  .order_by(older.c.id.desc()).limit(1))
        if archived:
            newest = newest.where(older.c.archive_path.is_not(None))
        if delivered:
            newest = newest.where(older.c.status == "delivered")
        chosen = select(newest.correlate(wanted).scalar_subquery()).select_from(wanted)
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs).where(runs.c.id.in_(chosen))).mappings()
            return {row["feed_id"]: RunRow.of(row) for row in rows}

    def since(self, when: datetime, feed_ids: Iterable[int]) -> list[RunRow]:
        """The runs of ``feed_ids`` started or due from ``when`` on, oldest first (the status page's timeline).

        Each feed's runs are two ranges of its (feed_id, started_at) and
        (feed_id, slot_start) indexes, not a scan of its year.
        """
        ids = sorted(set(feed_ids))
        if not ids:
            return []
        since = stamp(when)
        each = _each(self.engine.dialect.name, ids)
        wanted = runs.c.feed_id.in_(select(cast(each.c.value, Integer)).select_from(each))
        query = union(select(runs).where(wanted, runs.c.started_at >= since),
                      select(runs).where(wanted, runs.c.slot_start >= since))
        with self.engine.connect() as conn:
            found = [RunRow.of(row) for row in conn.execute(query).mappings()]
        return sorted(found, key=lambda run: run.run_id)

    # --- releasing a held run, once ------------------------------------------------------------

    def take_release(self, run_id: int) -> bool:
        """Become the one release of held run ``run_id``: False when it is released, or being released by a
        live process; two releases at the same time, on one database, cannot both win."""
        me = owner_name()
        with self.engine.connect() as conn:
            current = conn.execute(select(runs.c.released_by).where(runs.c.id == run_id)).scalar()
        if current is not None and (current.isdigit() or not dead_owner(current)):
            return False
        with self.engine.begin() as conn:
            won = conn.execute(update(runs).where(and_(
                runs.c.id == run_id, runs.c.status == "held",
                runs.c.released_by.is_(None) if current is None else runs.c.released_by == current,
            )).values(released_by=me))
        return won.rowcount == 1

    def released(self, run_id: int, by: int | None) -> None:
        """The held run was released by run ``by``, or (None) the release failed and it may be tried again."""
        with self.engine.begin() as conn:
            row = conn.execute(select(runs.c.error).where(runs.c.id == run_id)).first()
            values: dict[str, Any] = {"released_by": str(by) if by is not None else None}
            if by is not None and row is not None and row.error:
                values["error"] = row.error.split("; release it with:")[0] + f"; released by run {by}"
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def delivered_after(self, feed_id: int, run_id: int) -> RunRow | None:
        """The feed's first delivered run after run ``run_id``, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(and_(runs.c.feed_id == feed_id, runs.c.id > run_id,
                                                       runs.c.status == "delivered"))
                               .order_by(runs.c.id).limit(1)).mappings().first()
        return RunRow.of(row) if row else None

    def running_of(self, worker: str) -> list[RunRow]:
        """The runs of a daemon (``worker``, "host:pid") still ``running``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs).where(and_(runs.c.worker == worker, runs.c.status == "running")))
            return [RunRow.of(row) for row in rows.mappings()]

    def largest_recent(self, feed_id: int, window: int) -> int | None:
        """The most rows among the feed's last ``window`` deliveries, what the guard's row drop is measured against.

        The window stops at the newest delivery of a file that had been held
        before (a release, or a ``--no-guard`` run of the same bytes): once the
        operator has sent a smaller catalogue, it is the new measure, and the
        feed is not held again for the days its older, larger files stay in
        the window.
        """
        with self.engine.connect() as conn:
            delivered = conn.execute(
                select(runs.c.id, runs.c.rows, runs.c.sha256)
                .where(and_(runs.c.feed_id == feed_id, runs.c.status == "delivered"))
                .order_by(runs.c.id.desc()).limit(window)).all()
            hashes = {sha256 for _, _, sha256 in delivered if sha256}
            held = dict(conn.execute(
                select(runs.c.sha256, func.min(runs.c.id))
                .where(and_(runs.c.feed_id == feed_id, runs.c.status == "held", runs.c.sha256.in_(hashes)))
                .group_by(runs.c.sha256)).all()) if hashes else {}
        counted: list[int] = []
        for run_id, rows, sha256 in delivered:
            counted.append(rows or 0)
            if sha256 in held and held[sha256] < run_id:
                break
        return max(counted, default=None)

    def attempts_of(self, run_id: int) -> list[AttemptRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(attempts.c.number, attempts.c.started_at, attempts.c.ended_at,
                                       attempts.c.error).where(attempts.c.run_id == run_id)
                                .order_by(attempts.c.number)).all()
        return [AttemptRow(*row) for row in rows]

    # --- settling runs that cannot finish themselves ---------------------------------------

    def fail_running(self, feed_id: int, slot_start: datetime, error: str, now: datetime | None = None) -> int:
        """The runs of (feed, slot) still ``running`` end ``failed`` with ``error`` (a shutdown cut them off)."""
        with self.engine.begin() as conn:
            done = conn.execute(update(runs).where(and_(
                runs.c.feed_id == feed_id, runs.c.slot_start == stamp(slot_start), runs.c.status == "running",
            )).values(status="failed", ended_at=stamp(now or utcnow()), error=error))
        return done.rowcount

    def fail(self, run_ids: list[int], error: str, now: datetime | None = None) -> int:
        """These runs, if still ``running``, end ``failed`` with ``error``."""
        if not run_ids:
            return 0
        with self.engine.begin() as conn:
            done = conn.execute(update(runs).where(and_(runs.c.id.in_(run_ids), runs.c.status == "running"))
                                .values(status="failed", ended_at=stamp(now or utcnow()), error=error))
        return done.rowcount

    def abandon_dead(self, now: datetime | None = None) -> int:
        """Runs of this host still ``running`` whose process is gone (a SIGKILL, a crash) end ``failed``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs.c.id, runs.c.owner).where(runs.c.status == "running")).all()
        dead = [run_id for run_id, owner in rows if dead_owner(owner)]
        return self.fail(dead, "abandoned: the process running it stopped before it finished", now)


def _each(dialect: str, ids: list[int]) -> FromClause:
    """A table of ``ids`` (column ``value``) from one JSON parameter: no statement with 10,000 parameters."""
    if dialect == "postgresql":
        return func.json_array_elements_text(cast(ids, JSON)).table_valued("value").alias("wanted")
    return func.json_each(json.dumps(ids)).table_valued("value").alias("wanted")
