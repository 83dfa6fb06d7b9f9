"""One slot of the daemon: every feed on the sandbox due now, run by Daemon.wake.

    python slot.py SETTINGS_FILE
Prints a JSON object: wall seconds, delivered and failed runs.
"""

import json
import sys
import time

from feeds import wiring
from feeds.slots import utcnow

settings = wiring.load_settings(sys.argv[1])
with wiring.open_hubs(settings) as hubs, wiring.open_ledger(settings) as ledger:
    hubs.identify()  # as `feeds daemon` does at start, before its first wake
    start = time.perf_counter()
    daemon = wiring.daemon(settings, hubs, ledger)
    futures = daemon.wake(utcnow())
    daemon.wait_idle()
    wall = time.perf_counter() - start
    results = [f.result() for f in futures if f.result() is not None]
print(json.dumps({"wall": wall, "delivered": sum(r.status == "delivered" for r in results),
                  "failed": sum(r.status == "failed" for r in results),
                  "errors": sorted({r.error for r in results if r.error})[:3]}))
