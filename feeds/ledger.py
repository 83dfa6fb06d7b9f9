"""The run ledger and the SFTP host keys (SPEC §6), with SQLAlchemy Core.

SQLite by default (a file, created on first use), or a PostgreSQL URL shared
by several daemons. A claim on (feed id, slot start) is a row with that
primary key: inserting it is how a daemon takes a slot, so two daemons on one
database can never both run the same feed for the same slot. A claim still
``running`` past its lease counts as abandoned and may be taken over.

Times are stored as ISO-8601 UTC text (``2026-11-26T02:30:00.000000Z``): they
sort as text and mean the same on every database.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    func,
    inspect,
    text,
    event,
    insert,
    or_,
    select,
    update,
    delete,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from . import redact
from .changes import Snapshot
from .errors import ConfigError, SettingsError
from .retry import RUNS_PER_SLOT

log = logging.getLogger("feeds.ledger")

#: 2: runs.changes, snapshots, alert streaks, shared names
SCHEMA_VERSION = 2

metadata = MetaData()

meta = Table(
    "feeds_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("feed_id", Integer, nullable=False, index=True),
    Column("organisation", Integer),
    Column("feed_name", String(255)),
    Column("slot_start", String(32)),
    Column("trigger", String(16), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("ended_at", String(32)),
    Column("status", String(16), nullable=False),
    Column("method", String(16)),
    Column("rows", Integer),
    Column("bytes", Integer),
    Column("sha256", String(64)),
    Column("filename", String(1024)),
    Column("destination", String(2048)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("archive_path", String(4096)),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("owner", String(255)),
    Column("changes", Text),  # the change summary (SPEC §12), JSON
)

#: what a delivered or held file said per SKU (changes.Snapshot), for the next run's comparison
snapshots = Table(
    "snapshots", metadata,
    Column("run_id", Integer, primary_key=True),
    Column("feed_id", Integer, nullable=False, index=True),
    Column("rows", Integer, nullable=False),
    Column("empty_stock", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

#: the alert streak of each feed: "ok", "failed" or "held" (one alert per streak)
streaks = Table(
    "alert_streaks", metadata,
    Column("feed_id", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("since", String(32), nullable=False),
)

attempts = Table(
    "attempts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("ended_at", String(32), nullable=False),
    Column("error", Text),
)

claims = Table(
    "claims", metadata,
    Column("feed_id", Integer, primary_key=True),
    Column("slot_start", String(32), primary_key=True),
    Column("run_id", Integer),
    Column("status", String(16), nullable=False),
    Column("lease_until", String(32), nullable=False),
    Column("owner", String(255)),
    Column("tries", Integer, nullable=False, default=1),
)

feeds_seen = Table(
    "feeds_seen", metadata,
    Column("feed_id", Integer, primary_key=True),
    Column("first_seen", String(32), nullable=False),
)

leftovers = Table(
    "leftovers", metadata,
    Column("feed_id", Integer, primary_key=True),
    Column("target", String(1024), primary_key=True),
    Column("path", String(2048), primary_key=True),
)

shared_names = Table(
    "shared_names", metadata,
    Column("method", String(16), primary_key=True),
    Column("name", String(1024), primary_key=True),
    Column("organisation", Integer, nullable=False),
    Column("feed_id", Integer, nullable=False),
    Column("claimed_at", String(32), nullable=False),
)

host_keys = Table(
    "host_keys", metadata,
    Column("host", String(255), primary_key=True),
    Column("port", Integer, primary_key=True),
    Column("key_type", String(64), nullable=False),
    Column("key_base64", Text, nullable=False),
    Column("fingerprint", String(128), nullable=False),
    Column("first_seen", String(32), nullable=False),
)


def stamp(when: datetime | None) -> str | None:
    """A datetime as the ledger stores it."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


#: tells this process from an earlier one with the same pid (containers restart as pid 1)
_PROCESS_TOKEN = uuid.uuid4().hex[:12]


def owner_name() -> str:
    """Who holds a claim: host, process id and this process's token."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TOKEN}"


def _dead_owner(owner: str | None, host: str) -> bool:
    """Whether a claim or run of this host belongs to a process that no longer runs."""
    parts = (owner or "").rsplit(":", 2)
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False  # another host's: only its lease can tell
    pid, token = int(parts[1]), parts[2]
    if token == _PROCESS_TOKEN:
        return False  # ours, and alive
    return pid == os.getpid() or not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Ledger:
    """Runs, attempts, slot claims, first sightings of feeds, and SFTP host keys."""

    def __init__(self, url: str):
        self.url = url
        self.engine = self._engine(url)
        try:
            self._migrate()
        except OperationalError as exc:
            raise SettingsError(f"the state database {self._shown()} cannot be used: {exc.orig}") from None

    def _shown(self) -> str:
        return redact.redact(self.engine.url.render_as_string(hide_password=True))

    @staticmethod
    def _engine(url: str) -> Engine:
        if url.startswith("sqlite:///"):
            path = Path(url[len("sqlite:///"):])
            try:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                for existing in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                    if existing.exists():
                        existing.chmod(0o600)  # a ledger left readable by an older version
            except OSError as exc:
                raise SettingsError(f"the state folder {path.parent} cannot be created ({exc.strerror}); check state.database") from None
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        try:
            return create_engine(url, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise SettingsError(f"state.database is not a usable database URL ({type(exc).__name__}: {exc}); "
                                "use a SQLite path or postgresql+psycopg://user@host/db (pip install 'feeds[postgres]')") from None

    def _migrate(self) -> None:
        for attempt in range(5):
            try:
                metadata.create_all(self.engine)
                break
            except (OperationalError, ProgrammingError, IntegrityError):
                # Another process created the tables between the check and the create.
                if attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))
        with self.engine.begin() as conn:
            if "changes" not in {c["name"] for c in inspect(conn).get_columns("runs")}:
                conn.execute(text("ALTER TABLE runs ADD COLUMN changes TEXT"))  # a ledger of schema version 1
            found = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
            if found is not None and int(found) < SCHEMA_VERSION:
                conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))
            if found is None:
                try:
                    conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
                except IntegrityError:
                    pass
            elif int(found) > SCHEMA_VERSION:
                raise SettingsError(
                    f"the state database {self._shown()} has schema version {found}, newer than this feeds "
                    f"understands ({SCHEMA_VERSION}); upgrade feeds"
                )

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- runs ------------------------------------------------------------------

    def start_run(
        self,
        feed_id: int,
        trigger: str,
        *,
        organisation: int | None = None,
        feed_name: str | None = None,
        method: str | None = None,
        slot_start: datetime | None = None,
        started_at: datetime | None = None,
    ) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(insert(runs).values(
                feed_id=feed_id, organisation=organisation, feed_name=feed_name, method=method,
                slot_start=stamp(slot_start), trigger=trigger,
                started_at=stamp(started_at or datetime.now(timezone.utc)),
                status="running", attempts=0, host=socket.gethostname(), pid=os.getpid(), owner=owner_name(),
            ))
            return int(result.inserted_primary_key[0])

    def update_run(self, run_id: int, **fields: Any) -> None:
        values = {k: (redact.redact(v) if isinstance(v, str) and k in ("error", "destination") else v)
                  for k, v in fields.items()}
        if isinstance(values.get("changes"), dict):
            values["changes"] = json.dumps(values["changes"])
        for key in ("ended_at", "slot_start", "started_at"):
            if isinstance(values.get(key), datetime):
                values[key] = stamp(values[key])
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def record_attempt(self, run_id: int, number: int, started_at: datetime, ended_at: datetime, error: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(attempts).values(
                run_id=run_id, number=number, started_at=stamp(started_at), ended_at=stamp(ended_at),
                error=redact.redact(error) if error else None,
            ))
            conn.execute(update(runs).where(runs.c.id == run_id).values(attempts=number))

    def run(self, run_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
        return self._run_dict(row) if row else None

    def history(self, feed_id: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if feed_id is not None:
            query = query.where(runs.c.feed_id == feed_id)
        with self.engine.connect() as conn:
            return [self._run_dict(row) for row in conn.execute(query).mappings()]

    def last_runs(self, feed_ids: list[int]) -> dict[int, dict[str, Any]]:
        """The newest run of each of ``feed_ids``."""
        if not feed_ids:
            return {}
        newest = (select(runs.c.feed_id, func.max(runs.c.id).label("id"))
                  .where(runs.c.feed_id.in_(feed_ids)).group_by(runs.c.feed_id).subquery())
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs).join(newest, runs.c.id == newest.c.id)).mappings()
            return {row["feed_id"]: self._run_dict(row) for row in rows}

    def runs_since(self, when: datetime) -> list[dict[str, Any]]:
        """Runs started or due from ``when`` on, oldest first (the status page's timeline)."""
        since = stamp(when)
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs).where(or_(runs.c.started_at >= since, runs.c.slot_start >= since))
                                .order_by(runs.c.id)).mappings()
            return [self._run_dict(row) for row in rows]

    def attempts_of(self, run_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(attempts).where(attempts.c.run_id == run_id).order_by(attempts.c.number))
            return [dict(row) for row in rows.mappings()]

    @staticmethod
    def _run_dict(row: Any) -> dict[str, Any]:
        return {
            "run_id": row["id"],
            "feed_id": row["feed_id"],
            "organisation": row["organisation"],
            "feed_name": row["feed_name"],
            "slot_start": row["slot_start"],
            "trigger": row["trigger"],
            "started_at": row["started_at"],
            "ended_at": row["ended_at"],
            "status": row["status"],
            "method": row["method"],
            "rows": row["rows"],
            "bytes": row["bytes"],
            "sha256": row["sha256"],
            "filename": row["filename"],
            "destination": row["destination"],
            "attempts": row["attempts"],
            "error": row["error"],
            "archive_path": row["archive_path"],
            "host": row["host"],
            "changes": json.loads(row["changes"]) if row["changes"] else None,
        }

    # --- claims (SPEC §5) -----------------------------------------------------------

    def claim(self, feed_id: int, slot_start: datetime, lease: timedelta, now: datetime | None = None,
              owner: str | None = None, max_tries: int = RUNS_PER_SLOT) -> bool:
        """Take (feed, slot) for a run.

        False when the slot is delivered, held by a live claim, or has been
        tried ``max_tries`` times already (a feed that keeps failing is not
        retried every half hour until its next day's slot).
        """
        now = now or datetime.now(timezone.utc)
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
                    claims.c.tries < max_tries,
                    or_(claims.c.status.in_(("failed", "held")),
                        and_(claims.c.status == "running", claims.c.lease_until < stamp(now))),
                ))
                .values(status="running", lease_until=until, owner=owner, run_id=None, tries=claims.c.tries + 1)
            )
            return taken.rowcount == 1

    def renew(self, feed_id: int, slot_start: datetime, lease: timedelta, owner: str | None = None) -> None:
        """Extend a live claim's lease (a long delivery is not abandoned while it runs)."""
        until = stamp(datetime.now(timezone.utc) + lease)
        with self.engine.begin() as conn:
            conn.execute(update(claims).where(and_(
                claims.c.feed_id == feed_id, claims.c.slot_start == stamp(slot_start),
                claims.c.status == "running", claims.c.owner == (owner or owner_name()))).values(lease_until=until))

    def release_dead_claims(self, now: datetime | None = None) -> int:
        """Claims of this host whose process is gone (a crash, a SIGKILL): expire them now.

        A claim of this host made by another process whose id no longer runs,
        or whose id is ours (an earlier incarnation: in a container the id
        repeats), is dead. Claims of other hosts wait for their lease.
        """
        now = now or datetime.now(timezone.utc)
        host = socket.gethostname()
        with self.engine.connect() as conn:
            rows = conn.execute(select(claims.c.feed_id, claims.c.slot_start, claims.c.owner)
                                .where(claims.c.status == "running")).all()
        dead = [(feed_id, slot) for feed_id, slot, owner in rows if _dead_owner(owner, host)]
        past = stamp(now - timedelta(seconds=1))
        for feed_id, slot in dead:
            with self.engine.begin() as conn:
                conn.execute(update(claims).where(and_(claims.c.feed_id == feed_id, claims.c.slot_start == slot,
                                                       claims.c.status == "running")).values(lease_until=past))
        if dead:
            self.abandon_expired(now)
        return len(dead)

    def attach_run(self, feed_id: int, slot_start: datetime, run_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(claims).where(and_(claims.c.feed_id == feed_id,
                                                   claims.c.slot_start == stamp(slot_start)))
                         .values(run_id=run_id))

    def settle(self, feed_id: int, slot_start: datetime, status: str) -> None:
        """Mark a claim delivered or failed when its run ends."""
        with self.engine.begin() as conn:
            conn.execute(update(claims).where(and_(claims.c.feed_id == feed_id,
                                                   claims.c.slot_start == stamp(slot_start)))
                         .values(status=status))

    def claim_status(self, feed_id: int, slot_start: datetime) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(claims.c.status).where(and_(
                claims.c.feed_id == feed_id, claims.c.slot_start == stamp(slot_start)))).scalar()

    def abandon_expired(self, now: datetime | None = None) -> int:
        """Runs whose claim lease ran out while ``running``: mark them failed (a crash)."""
        now = now or datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            expired = conn.execute(select(claims.c.run_id).where(and_(
                claims.c.status == "running", claims.c.lease_until < stamp(now), claims.c.run_id.is_not(None)))).scalars().all()
            if expired:
                conn.execute(update(runs).where(and_(runs.c.id.in_(expired), runs.c.status == "running"))
                             .values(status="failed", ended_at=stamp(now),
                                     error="abandoned: the process running it stopped before it finished (lease expired)"))
        return len(expired)

    def abandon_dead_runs(self, now: datetime | None = None) -> int:
        """Runs of this host still ``running`` whose process is gone (manual runs have no claim)."""
        now = now or datetime.now(timezone.utc)
        host = socket.gethostname()
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs.c.id, runs.c.owner).where(runs.c.status == "running")).all()
        dead = [run_id for run_id, owner in rows if _dead_owner(owner, host)]
        if dead:
            with self.engine.begin() as conn:
                conn.execute(update(runs).where(and_(runs.c.id.in_(dead), runs.c.status == "running")).values(
                    status="failed", ended_at=stamp(now),
                    error="abandoned: the process running it stopped before it finished"))
        return len(dead)

    # --- feeds first seen (catch-up) -----------------------------------------------

    def first_seen(self, feed_id: int, now: datetime) -> datetime:
        """When the daemon first saw this feed; remembered on first call."""
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

    # --- temporary files on servers (removed by the next run after a crash) ----------

    def leftovers(self, feed_id: int, target: str) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(leftovers.c.path).where(and_(
                leftovers.c.feed_id == feed_id, leftovers.c.target == target))).scalars())

    def set_leftovers(self, feed_id: int, target: str, paths: list[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(leftovers).where(and_(leftovers.c.feed_id == feed_id, leftovers.c.target == target)))
            for path in dict.fromkeys(paths):
                conn.execute(insert(leftovers).values(feed_id=feed_id, target=target, path=path))

    # --- snapshots of delivered and held files (SPEC §12) ------------------------------------

    def store_snapshot(self, run_id: int, feed_id: int, snapshot: Snapshot) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(snapshots).values(run_id=run_id, feed_id=feed_id, rows=snapshot.rows,
                                                  empty_stock=snapshot.empty_stock, data=snapshot.data))

    def snapshot_of(self, run_id: int) -> Snapshot | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(snapshots.c.rows, snapshots.c.empty_stock, snapshots.c.data)
                               .where(snapshots.c.run_id == run_id)).first()
        return Snapshot(row[0], row[1], bytes(row[2])) if row else None

    def last_delivered_snapshot(self, feed_id: int) -> Snapshot | None:
        """The snapshot of the feed's newest delivered run: what the resellers have now."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(snapshots.c.rows, snapshots.c.empty_stock, snapshots.c.data)
                .select_from(snapshots.join(runs, runs.c.id == snapshots.c.run_id))
                .where(and_(snapshots.c.feed_id == feed_id, runs.c.status == "delivered"))
                .order_by(snapshots.c.run_id.desc()).limit(1)
            ).first()
        return Snapshot(row[0], row[1], bytes(row[2])) if row else None

    def prune_snapshots(self, feed_id: int, delivered_run_id: int) -> None:
        """Only the newest delivered snapshot and those of later runs (a held file to release) are needed."""
        with self.engine.begin() as conn:
            conn.execute(delete(snapshots).where(and_(snapshots.c.feed_id == feed_id,
                                                      snapshots.c.run_id < delivered_run_id)))

    # --- alert streaks ----------------------------------------------------------------------

    def streak(self, feed_id: int) -> str:
        with self.engine.connect() as conn:
            return conn.execute(select(streaks.c.state).where(streaks.c.feed_id == feed_id)).scalar() or "ok"

    def set_streak(self, feed_id: int, state: str) -> bool:
        """Set a feed's streak; True when it changed (an alert is due)."""
        now = stamp(datetime.now(timezone.utc))
        with self.engine.begin() as conn:
            old = conn.execute(select(streaks.c.state).where(streaks.c.feed_id == feed_id)).scalar()
            if old == state or (old is None and state == "ok"):
                return False
            if old is None:
                conn.execute(insert(streaks).values(feed_id=feed_id, state=state, since=now))
            else:
                conn.execute(update(streaks).where(streaks.c.feed_id == feed_id).values(state=state, since=now))
            return True

    def claim_tries(self, feed_id: int, slot_start: datetime) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(claims.c.tries).where(and_(
                claims.c.feed_id == feed_id, claims.c.slot_start == stamp(slot_start)))).scalar() or 0

    # --- names shared by every organisation (SITC file names) ----------------------------------

    def claim_shared_name(self, method: str, name: str, organisation: int, feed_id: int) -> None:
        """Take ``name`` for ``organisation``, or check that it has it; ConfigError naming the owner otherwise.

        The first organisation whose feed delivers under the name owns it: the
        claim is made as its upload starts, so two organisations in one slot
        cannot both take it (SPEC §11).
        """
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(shared_names).values(method=method, name=name, organisation=organisation,
                                                         feed_id=feed_id, claimed_at=stamp(datetime.now(timezone.utc))))
            return
        except IntegrityError:
            pass
        with self.engine.connect() as conn:
            owner = conn.execute(select(shared_names.c.organisation, shared_names.c.feed_id, shared_names.c.claimed_at)
                                 .where(and_(shared_names.c.method == method, shared_names.c.name == name))).first()
        if owner is not None and owner[0] != organisation:
            raise ConfigError(
                f"the {method} file name {name!r} belongs to organisation {owner[0]} (its feed {owner[1]} first "
                f"delivered it, {owner[2][:10]}); another organisation's feed may not replace that file: choose "
                "another sitc_filename"
            )

    # --- SFTP host keys ------------------------------------------------------------------

    def host_key(self, host: str, port: int) -> tuple[str, str, str] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(host_keys.c.key_type, host_keys.c.key_base64, host_keys.c.fingerprint)
                               .where(and_(host_keys.c.host == host, host_keys.c.port == port))).first()
        return (row[0], row[1], row[2]) if row else None

    def remember_host_key(self, host: str, port: int, key_type: str, key_base64: str, fingerprint: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(host_keys).values(host=host, port=port, key_type=key_type, key_base64=key_base64,
                                                      fingerprint=fingerprint,
                                                      first_seen=stamp(datetime.now(timezone.utc))))
        except IntegrityError:
            pass  # another process remembered it first; the next check compares with that

    def forget_host_key(self, host: str, port: int) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(delete(host_keys).where(and_(host_keys.c.host == host, host_keys.c.port == port)))
            return gone.rowcount > 0
