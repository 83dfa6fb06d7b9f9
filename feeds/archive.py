"""The archive: each feed's last files, kept for audit and resend (SPEC §6).

``<archive>/<feed id>/<UTC time>-run<run id>-<file name>``; after each run
only the newest ``state.archive_keep`` files of the feed are kept. Files are
rendered into ``<archive>/.spool`` first, so that moving them into the archive
is a rename on the same file system, never a copy: a file is in the archive
whole or not at all. A write that fails (a full disk) removes what it wrote
and says which folder, so a truncated file is never archived, linked or sent.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from .errors import FeedsError
from .filenames import fit

log = logging.getLogger("feeds.archive")


class ArchiveError(FeedsError):
    """A file could not be written in the archive folder (full, not writable); one sentence naming it."""

    def __init__(self, what: str, folder: Path, exc: OSError):
        #: what happened, without the advice
        self.fact = f"{what} in the archive folder {folder} ({exc.strerror or exc})"
        super().__init__(f"{self.fact}; free space there, or choose another folder with state.archive_dir")


@dataclass(frozen=True)
class Archive:
    """The archive folder and how many files of each feed it keeps."""

    folder: Path
    keep_files: int = 7

    @contextmanager
    def spooled(self) -> Iterator[tuple[BinaryIO, Path]]:
        """A new file to render into (open for writing, and its path), complete when the block ends.

        When writing fails the partial file is removed and ``ArchiveError`` names the folder.
        """
        spool = self.folder / ".spool"
        path: Path | None = None
        try:
            spool.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f"render-{os.getpid()}-", suffix=".csv", dir=spool)
            path = Path(name)
            with os.fdopen(fd, "wb") as out:
                yield out, path
        except OSError as exc:
            if path is not None:
                path.unlink(missing_ok=True)
            raise ArchiveError("the file could not be written", spool, exc) from None
        except BaseException:
            if path is not None:
                path.unlink(missing_ok=True)
            raise

    def keep(self, feed_id: int, rendered: Path, filename: str, run_id: int, when: datetime) -> Path | None:
        """Move a complete rendered file into the feed's archive, then prune old ones; None when nothing is kept.

        The move is one rename (atomic); when it fails the rendered file is
        removed, nothing is linked, and ``ArchiveError`` names the folder.
        """
        if self.keep_files <= 0:
            rendered.unlink(missing_ok=True)
            return None
        folder = self.folder / str(feed_id)
        target = folder / fit(filename, prefix=f"{when.strftime('%Y%m%dT%H%M%SZ')}-run{run_id:08d}-")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(rendered, target)
        except OSError as exc:
            rendered.unlink(missing_ok=True)
            raise ArchiveError("the file could not be archived", folder, exc) from None
        self.prune(folder)
        return target

    def prune(self, folder: Path) -> None:
        """Keep the newest ``keep_files`` of a feed; a file that cannot be removed now is removed another time."""
        files = sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: p.name, reverse=True)
        for old in files[self.keep_files:]:
            try:
                old.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("an old archived file could not be removed: %s (%s)", old, exc.strerror)

    def holds(self, path: Path) -> bool:
        """Whether ``path`` is a file inside the archive (what may be served or released)."""
        resolved = path.resolve()
        return self.folder.resolve() in resolved.parents and resolved.is_file()

    def clean_spool(self, gone: Callable[[int], bool], older_than: float = 24 * 3600) -> None:
        """Remove rendered files a crash left behind: those of a process that is ``gone``, and any a day old."""
        spool = self.folder / ".spool"
        if not spool.is_dir():
            return
        now = datetime.now().timestamp()
        for leftover in spool.iterdir():
            pid = leftover.name.split("-")[1] if leftover.name.count("-") >= 2 else ""
            try:
                if (pid.isdigit() and gone(int(pid))) or now - leftover.stat().st_mtime > older_than:
                    leftover.unlink()
            except OSError:
                pass
