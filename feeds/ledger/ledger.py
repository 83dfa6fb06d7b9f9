"""``Ledger``: one database and its parts, each in its own module (see ``__init__.py``)."""

from __future__ import annotations

from .alert_outbox import AlertOutbox
from .claims import Claims
from .database import Database
from .host_keys import HostKeys
from .leftovers import Leftovers
from .listing import Listing
from .runs import Runs
from .shared_names import SharedNames
from .sightings import Sightings
from .snapshots import Snapshots
from .streaks import Streaks


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
