"""``[state]``: where the ledger and the archive live (SPEC §6)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from ..sections import Section


def _expand(path: str) -> Path:
    return Path(os.path.expanduser(path)).absolute()


class StateSettings(Section):
    database: str = "~/.local/state/feeds/feeds.db"
    archive_keep: int = Field(7, ge=0, le=1000)
    archive_dir: str = ""

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the ledger: a SQLite file unless a URL is given."""
        if "://" in self.database:
            return self.database
        return "sqlite:///" + str(_expand(self.database))

    @property
    def shared(self) -> bool:
        """Whether the ledger is a database server that several daemons share (PostgreSQL)."""
        return "://" in self.database and not self.database.startswith("sqlite")

    @property
    def archive_path(self) -> Path:
        if self.archive_dir:
            return _expand(self.archive_dir)
        if "://" in self.database:
            return _expand("~/.local/state/feeds/archive")
        return _expand(self.database).parent / "archive"
