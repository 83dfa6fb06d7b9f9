"""The ledger's database: SQLite by default (a file, created on first use) or a shared PostgreSQL.

Also what every part of the ledger shares: how times are stored (ISO-8601
UTC text, ``2026-11-26T02:30:00.000000Z``, which sorts as text and means the
same on every database) and who this process is (``owner_name``), so that a
claim or run left by a process that died can be told from a live one.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, insert, inspect, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from .. import redact, retry
from ..errors import SettingsError
from .tables import SCHEMA_VERSION, meta, metadata

log = logging.getLogger("feeds.ledger")


def stamp(when: datetime | None) -> str | None:
    """A datetime as the ledger stores it."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str | None) -> datetime | None:
    """A time as ``stamp`` wrote it (``fromisoformat``: a status page reads 20,000 of them, strptime is 50x slower)."""
    if not text:
        return None
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


#: tells this process from an earlier one with the same pid (containers restart as pid 1)
_PROCESS_TOKEN = uuid.uuid4().hex[:12]


def owner_name() -> str:
    """Who holds a claim or runs a run: host, process id and this process's token."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TOKEN}"


def dead_owner(owner: str | None) -> bool:
    """Whether a claim or run of this host belongs to a process that no longer runs.

    A process of this host whose id no longer runs, or whose id is ours (an
    earlier incarnation: in a container the id repeats), is dead. Another
    host's process cannot be seen from here.
    """
    parts = (owner or "").rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid, token = int(parts[1]), parts[2]
    if token == _PROCESS_TOKEN:
        return False  # ours, and alive
    return pid == os.getpid() or not _alive(pid)


def gone(pid: int) -> bool:
    """Whether process ``pid`` of this host no longer runs."""
    return pid != os.getpid() and not _alive(pid)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs: a zombie (dead, not yet reaped, as a killed daemon's workers can be) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc: the signal test is all there is


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


#: columns added since the first schema version: (table, column, SQL type)
_ADDED_COLUMNS = (
    ("runs", "changes", "TEXT"),
    ("runs", "worker", "VARCHAR(255)"),
    ("runs", "publishing", "VARCHAR(2048)"),
    ("claims", "worker", "VARCHAR(64)"),
    ("runs", "released_by", "VARCHAR(255)"),
)


def _check_sqlite(conn: Any) -> None:
    """A damaged SQLite file is found at open, not by the first run that reads the damaged page.

    ``PRAGMA quick_check`` reads every page once (about 50 ms for an 80 MB
    ledger); it raises, or reports the first problem, when the file is damaged.
    """
    problem = conn.execute(text("PRAGMA quick_check(1)")).scalar()
    if problem != "ok":
        detail = " ".join(str(problem).replace("*** in database main ***", "").split())
        raise DatabaseError("PRAGMA quick_check", None, Exception(f"SQLite's quick_check says: {detail}"))


class Database:
    """The engine of the ledger, its tables created and brought to the current schema."""

    def __init__(self, url: str):
        self.url = url
        self.engine = self._engine(url)
        try:
            self.engine.connect().close()  # a server that cannot be reached is said at once, not tried again
            # Another process may create the tables or migrate between a check and a write: try again.
            retry.LEDGER_SETUP.run(self._migrate, lambda exc: isinstance(
                exc, (OperationalError, ProgrammingError, IntegrityError)))
        except DatabaseError as exc:  # the first queries: a damaged file, a server that cannot be reached
            self.engine.dispose()
            raise SettingsError(self._unusable(exc)) from None
        except BaseException:
            self.engine.dispose()
            raise

    def _unusable(self, exc: DatabaseError) -> str:
        """One sentence for a ledger that cannot be opened, naming the file or server (no SQL, no password)."""
        reason = " ".join(str(exc.orig or exc).split("\n")[0].split()) or type(exc).__name__
        if self.url.startswith("sqlite:///"):
            path = self.url[len("sqlite:///"):]
            if isinstance(exc, OperationalError):
                return f"the state database {path} cannot be used ({reason}); check state.database and the file"
            return (f"the state database {path} is damaged ({reason}): move it away to start a new ledger, or "
                    "restore it from a backup")
        return (f"the state database {self.shown()} cannot be reached ({redact.redact(reason)}); check "
                "state.database and that the database server runs")

    def shown(self) -> str:
        """The database for messages: no password."""
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
                raise SettingsError(f"the state folder {path.parent} cannot be created ({exc.strerror}); "
                                    "check state.database") from None
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        try:
            return create_engine(url, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise SettingsError(f"state.database is not a usable database URL ({type(exc).__name__}: {exc}); "
                                "use a SQLite path or postgresql+psycopg://user@host/db "
                                "(pip install 'feeds[postgres]')") from None

    def _migrate(self) -> None:
        """Create the tables and bring an older ledger to ``SCHEMA_VERSION``, in one transaction after the create."""
        self._create()
        with self.engine.begin() as conn:
            if self.url.startswith("sqlite:///"):
                _check_sqlite(conn)
            for table, column, kind in _ADDED_COLUMNS:  # a ledger of an older schema version
                if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
                    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))
            found = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
            if found is not None and int(found) > SCHEMA_VERSION:
                raise SettingsError(
                    f"the state database {self.shown()} has schema version {found}, newer than this feeds "
                    f"understands ({SCHEMA_VERSION}); upgrade feeds"
                )
            if found is not None and int(found) < 3:
                from .shared_names import fold_kept_names

                fold_kept_names(conn)  # schema 3: SITC file names compared case-folded and in NFC
            if found is not None and int(found) < SCHEMA_VERSION:
                conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))
            if found is None:
                conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))

    def _create(self) -> None:
        """The tables, and the indexes a ledger of an older version lacks (``create_all`` adds none to a table)."""
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            for table in metadata.sorted_tables:
                for index in table.indexes:
                    index.create(conn, checkfirst=True)

    def close(self) -> None:
        self.engine.dispose()
