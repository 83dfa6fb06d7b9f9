"""The ledger (SPEC §6): what was run, claimed, delivered and remembered, in one database.

``Ledger`` opens the database (SQLite by default, or a PostgreSQL URL shared
by several daemons) and holds one part per kind of record, each in its own
module with typed rows:

- ``runs``: one row per run and its attempts (``runs.py``);
- ``claims``: (feed, slot) taken once (``claims.py``);
- ``snapshots``: what delivered and held files said, for the change summary (``snapshots.py``);
- ``streaks``: each feed's alert streak (``streaks.py``);
- ``alerts``: alerts kept until they are sent (``alert_outbox.py``);
- ``host_keys``: SFTP host keys remembered on first use (``host_keys.py``);
- ``names``: file names every organisation writes to, and their owners (``shared_names.py``);
- ``sightings``: when each feed was first seen (``sightings.py``);
- ``leftovers``: temporary names a killed upload left on a server (``leftovers.py``);
- ``listing``: the feed list of the last wake, secrets masked, for every daemon's status page (``listing.py``).
"""

from __future__ import annotations

from .alert_outbox import AlertOutbox, PendingAlert
from .claims import ClaimRow, Claims
from .database import Database, dead_owner, gone, owner_name, parse_stamp, stamp
from .host_keys import HostKey, HostKeys
from .leftovers import Leftovers
from .listing import Listing
from .runs import AttemptRow, RunRow, Runs
from .shared_names import Owner, SharedNames
from .sightings import Sightings
from .snapshots import Snapshots
from .streaks import Streaks

__all__ = ["AlertOutbox", "AttemptRow", "ClaimRow", "HostKey", "Ledger", "Owner", "PendingAlert", "RunRow", "dead_owner",
           "gone", "owner_name", "parse_stamp", "stamp"]


class Ledger:
    """The ledger's parts over one database."""

    def __init__(self, url: str):
        self.db = Database(url)
        self.runs = Runs(self.db)
        self.claims = Claims(self.db, self.runs)
        self.snapshots = Snapshots(self.db)
        self.streaks = Streaks(self.db)
        self.alerts = AlertOutbox(self.db)
        self.host_keys = HostKeys(self.db)
        self.names = SharedNames(self.db)
        self.sightings = Sightings(self.db)
        self.leftovers = Leftovers(self.db)
        self.listing = Listing(self.db)

    @property
    def url(self) -> str:
        return self.db.url

    def settle_the_dead(self) -> int:
        """Runs and claims left by a process of this host that no longer runs (a killed `feeds run` or daemon)
        end failed, so that whoever opens the ledger next sees them settled; how many runs."""
        return self.runs.abandon_dead() + self.claims.abandon_expired()

    def shown(self) -> str:
        """Which database this is, for messages (no password)."""
        return self.db.shown()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
