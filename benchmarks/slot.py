"""One slot of the daemon: every feed on the sandbox due now, run by Daemon.wake.

    python slot.py SETTINGS_FILE
Prints a JSON object: wall seconds, delivered and failed runs.
"""

import json
import sys
import time

from feeds.daemon import Daemon, utcnow
from feeds.hub import Hubs
from feeds.ledger import Ledger
from feeds.settings import load

settings = load(sys.argv[1])
with Hubs.from_settings(settings) as hubs, Ledger(settings.database_url) as ledger:
    hubs.identify()  # as `feeds daemon` does at start, before its first wake
    start = time.perf_counter()
    daemon = Daemon(settings, hubs, ledger)
    futures = daemon.wake(utcnow())
    daemon.wait_idle()
    wall = time.perf_counter() - start
    results = [f.result() for f in futures if f.result() is not None]
print(json.dumps({"wall": wall, "delivered": sum(r.status == "delivered" for r in results),
                  "failed": sum(r.status == "failed" for r in results),
                  "errors": sorted({r.error for r in results if r.error})[:3]}))
