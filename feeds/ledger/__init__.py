"""The ledger (SPEC §6): what was run, claimed, delivered and remembered, in one database.

``Ledger`` (``ledger.py``) opens the database (SQLite by default, or a PostgreSQL URL shared
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

from typing import TYPE_CHECKING

from .. import lazy

if TYPE_CHECKING:
    from .alert_outbox import AlertOutbox, PendingAlert
    from .claims import ClaimRow
    from .database import dead_owner, gone, owner_name, parse_stamp, stamp
    from .host_keys import HostKey
    from .ledger import Ledger
    from .runs import AttemptRow, RunRow
    from .shared_names import Owner

__all__ = ["AlertOutbox", "AttemptRow", "ClaimRow", "HostKey", "Ledger", "Owner", "PendingAlert", "RunRow", "dead_owner",
           "gone", "owner_name", "parse_stamp", "stamp"]

_WHERE = {"AlertOutbox": "alert_outbox", "PendingAlert": "alert_outbox", "ClaimRow": "claims", "HostKey": "host_keys",
          "Owner": "shared_names", "AttemptRow": "runs", "RunRow": "runs", "Ledger": "ledger",
          **dict.fromkeys(["dead_owner", "gone", "owner_name", "parse_stamp", "stamp"], "database")}

# Loaded on first use: ``[state]`` (``settings.py``) is read by every command before SQLAlchemy is needed, and
# ``feeds run`` asks Hub its first questions meanwhile.
__getattr__ = lazy.exports(__name__, _WHERE)
