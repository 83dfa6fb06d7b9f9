"""A full archive disk (SPEC §6 and §11 "Files feeds writes"): archive writes are whole or nothing.

The disk is the operator's, not a server's, so it is faked here: the archive
module's writes (``os.fdopen`` of the spool) and moves (``os.replace`` into a
feed's folder) fail with ENOSPC after a given number of bytes. Everything else
is real: the sandbox, the ledger, an outbox and an SFTP server on 127.0.0.1.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from feeds import archive
from feeds.hub.sandbox import Catalogue

from delivery_helpers import email_feed, make_settings, run, sandbox_with
from test_guard import World, product, sftp  # noqa: F401 (the SFTP server fixture)


class FillingFile:
    """A file on a disk with ``room`` bytes left: the write that passes it fails with ENOSPC."""

    def __init__(self, inner, room: int):
        self.inner, self.room = inner, room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            self.inner.write(data[:self.room])  # what fitted stays, as on a real disk
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.inner.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.inner.close()

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def disk_with_room(monkeypatch):
    """Leave ``room`` bytes for the files the archive writes."""

    def leave(room: int) -> None:
        real = os.fdopen
        monkeypatch.setattr(archive.os, "fdopen", lambda fd, *a, **k: FillingFile(real(fd, *a, **k), room))

    return leave


@pytest.fixture
def full_feed_folder(monkeypatch):
    """Moves into feed 1's archive folder fail with ENOSPC (its directory needs a block the disk has not)."""
    real = os.replace

    def replace(source, target):
        if "/archive/1" in str(target):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(source, target)

    monkeypatch.setattr(archive.os, "replace", replace)


def archived_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_a_disk_that_fills_while_rendering_fails_the_run_and_keeps_no_truncated_file(tmp_path, disk_with_room):
    disk_with_room(1000)
    settings = make_settings(tmp_path, delivery={"outbox": str(tmp_path / "outbox")})
    sandbox = sandbox_with(email_feed(filename="f.csv"), catalogue=Catalogue(items=[product(i) for i in range(1, 500)]))
    result, row, _ = run(settings, sandbox)
    spool = settings.state.archive_path / ".spool"
    assert result.status == "failed"
    assert result.error == (f"the file could not be written in the archive folder {spool} (No space left on device); "
                            "free space there, or choose another folder with state.archive_dir")
    assert row["error"] == result.error and row["archive_path"] is None  # nothing to download
    assert archived_files(settings.state.archive_path) == []  # the 1000 bytes that fitted were removed
    assert not (tmp_path / "outbox").exists()  # and nothing was sent


def test_a_move_into_the_archive_that_fails_links_nothing(tmp_path, full_feed_folder):
    settings = make_settings(tmp_path, delivery={"outbox": str(tmp_path / "outbox")})
    result, row, _ = run(settings, sandbox_with(email_feed(filename="f.csv")))
    folder = settings.state.archive_path / "1"
    assert result.status == "delivered", result.error  # the archive is a copy: the delivery stands
    assert row["archive_path"] is None and archived_files(settings.state.archive_path) == []
    said = f"the file could not be archived in the archive folder {folder} (No space left on device)"
    assert said in result.summary() and "(None)" not in result.summary()


def test_a_held_file_the_archive_cannot_keep_is_not_offered_for_release(tmp_path, sftp, request):  # noqa: F811
    world = World(tmp_path, sftp, [product(i) for i in range(1, 101)])
    assert world.run().status == "delivered"
    request.getfixturevalue("full_feed_folder")  # the disk fills after the first delivery
    world.sandbox.catalogue = Catalogue(items=[product(i) for i in range(1, 11)])
    held = world.run()
    assert held.status == "held" and "feeds release" not in held.error
    assert held.error.endswith("(No space left on device), so it cannot be released: free space there and run the "
                               "feed again")
    assert world.history()[0]["archive_path"] is None
