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
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

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


class Database:
    """The engine of the ledger, its tables created and brought to the current schema."""

    def __init__(self, url: str):
        self.url = url
        self.engine = self._engine(url)
        try:
            self._migrate()
        except OperationalError as exc:
            raise SettingsError(f"the state database {self.shown()} cannot be used: {exc.orig}") from None

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
        # Another process may create the tables between the check and the create: try again.
        retry.LEDGER_SETUP.run(self._create,
                               lambda exc: isinstance(exc, (OperationalError, ProgrammingError, IntegrityError)))
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
                    f"the state database {self.shown()} has schema version {found}, newer than this feeds "
                    f"understands ({SCHEMA_VERSION}); upgrade feeds"
                )

    def _create(self) -> None:
        """The tables, and the indexes a ledger of an older version lacks (``create_all`` adds none to a table)."""
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            for table in metadata.sorted_tables:
                for index in table.indexes:
                    index.create(conn, checkfirst=True)

    def close(self) -> None:
        self.engine.dispose()
