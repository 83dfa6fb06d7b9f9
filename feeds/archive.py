"""The archive: each feed's last files, kept for audit and resend (SPEC §6).

``<archive>/<feed id>/<UTC time>-run<run id>-<file name>``; after each run
only the newest ``state.archive_keep`` files of the feed are kept. Files are
rendered into ``<archive>/.spool`` first, so that moving them into the archive
is a rename on the same file system, never a copy.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .filenames import fit


@dataclass(frozen=True)
class Archive:
    """The archive folder and how many files of each feed it keeps."""

    folder: Path
    keep_files: int = 7

    def spool_file(self) -> tuple[int, Path]:
        """A new file to render into (a file descriptor and its path)."""
        spool = self.folder / ".spool"
        spool.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="render-", suffix=".csv", dir=spool)
        return fd, Path(name)

    def keep(self, feed_id: int, rendered: Path, filename: str, run_id: int, when: datetime) -> Path | None:
        """Move a rendered file into the feed's archive and prune old ones; None when nothing is kept."""
        if self.keep_files <= 0:
            rendered.unlink(missing_ok=True)
            return None
        folder = self.folder / str(feed_id)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / fit(filename, prefix=f"{when.strftime('%Y%m%dT%H%M%SZ')}-run{run_id:08d}-")
        os.replace(rendered, target)
        self.prune(folder)
        return target

    def prune(self, folder: Path) -> None:
        files = sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: p.name, reverse=True)
        for old in files[self.keep_files:]:
            old.unlink(missing_ok=True)

    def holds(self, path: Path) -> bool:
        """Whether ``path`` is a file inside the archive (what may be served or released)."""
        resolved = path.resolve()
        return self.folder.resolve() in resolved.parents and resolved.is_file()

    def clean_spool(self, older_than: float = 24 * 3600) -> None:
        """Remove rendered files a crash left behind."""
        spool = self.folder / ".spool"
        if not spool.is_dir():
            return
        now = datetime.now().timestamp()
        for leftover in spool.iterdir():
            try:
                if now - leftover.stat().st_mtime > older_than:
                    leftover.unlink()
            except OSError:
                pass
