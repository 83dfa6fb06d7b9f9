"""``[state]``: where the ledger and the archive live (SPEC §6)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field

from ..sections import LocalPath, Section


def _expand(path: str) -> Path:
    return Path(os.path.expanduser(path)).absolute()


class StateSettings(Section):
    database: LocalPath = "~/.local/state/feeds/feeds.db"
    archive_keep: int = Field(7, ge=0, le=1000)
    archive_dir: LocalPath = ""

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the ledger: a SQLite file unless a URL is given."""
        if "://" in self.database:
            return self.database
        return "sqlite:///" + str(_expand(self.database))

    @property
    def where(self) -> str:
        """The ledger for people: the SQLite file, or the database URL without its password."""
        if "://" not in self.database:
            return str(_expand(self.database))
        url = urlsplit(self.database)
        if url.password is None:
            return self.database
        netloc = f"{url.username or ''}:********@{url.hostname or ''}" + (f":{url.port}" if url.port else "")
        return urlunsplit(url._replace(netloc=netloc))

    @property
    def shared(self) -> bool:
        """Whether the ledger is a database server that several daemons share (PostgreSQL)."""
        return "://" in self.database and not self.database.startswith("sqlite")

    @property
    def folder(self) -> Path:
        """The folder of the state files: the SQLite ledger's, else the archive's parent."""
        if "://" not in self.database:
            return _expand(self.database).parent
        return self.archive_path.parent

    @property
    def archive_path(self) -> Path:
        if self.archive_dir:
            return _expand(self.archive_dir)
        if "://" in self.database:
            return _expand("~/.local/state/feeds/archive")
        return _expand(self.database).parent / "archive"
