"""The built-in sandbox's feed configurations kept in a file, so that they outlive the command.

``hub.base_url = "sandbox"`` runs the sandbox inside each command. Without a
file, ``feeds upload`` would answer "updated feed 1" and the next ``feeds
list`` would show the samples again. ``FeedStore`` keeps the feeds as a JSON
list beside the ledger: read when the sandbox starts and again whenever
another process changed the file (an upload while the daemon runs shows at
its next wake, as on Hub), written whole after every change (to a temporary
name, then renamed: a reader never sees half a file).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ...errors import UsageError

#: the file's name in the state folder
FILE_NAME = "sandbox-feeds.json"


class FeedStore:
    """A JSON file of feed configurations (a list of objects with their ids)."""

    def __init__(self, path: Path):
        self.path = path
        self._seen: tuple[int, int] | None = None

    def _signature(self) -> tuple[int, int] | None:
        try:
            found = self.path.stat()
        except FileNotFoundError:
            return None
        return found.st_mtime_ns, found.st_size

    def changed(self) -> bool:
        """Whether the file changed since it was last read or written here."""
        return self._signature() != self._seen

    def load(self) -> dict[int, dict[str, Any]] | None:
        """The stored feeds by id; None when nothing was stored yet."""
        signature = self._signature()
        if signature is None:
            self._seen = None
            return None
        try:
            feeds = json.loads(self.path.read_text(encoding="utf-8"))
            stored = {int(feed["id"]): feed for feed in feeds}
        except (ValueError, TypeError, KeyError) as exc:
            raise UsageError(f"the sandbox's feed file {self.path} is not a JSON list of feeds ({exc}); delete it "
                             "to start again from the sample feeds") from None
        self._seen = signature
        return stored

    def save(self, feeds: dict[int, dict[str, Any]]) -> None:
        """Write every feed (the state folder is the owner's alone, as the ledger's)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        text = json.dumps([feeds[fid] for fid in sorted(feeds)], ensure_ascii=False, indent=2)
        handle, temporary = tempfile.mkstemp(prefix=".sandbox-feeds-", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text + "\n")
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self._seen = self._signature()
