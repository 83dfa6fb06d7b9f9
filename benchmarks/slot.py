"""One slot of the daemon: every feed on the sandbox due now, run by Daemon.wake.

    python slot.py SETTINGS_FILE
Prints a JSON object: wall seconds, the slot's CPU seconds (the daemon's and its
worker processes', from the wake to the last run's end, after they started),
delivered and failed runs. The daemon is
stopped at the end, so its worker processes have ended (and been waited for)
when this process exits: wait4 on it counts the CPU time of the whole tree.
"""

import json
import os
import sys
import time

from feeds import wiring
from feeds.slots import utcnow


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (all their threads), from /proc."""
    total = 0
    for pid in pids:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat(5))
    return total / os.sysconf("SC_CLK_TCK")


def settled(pids: list[int]) -> float:
    """The processes' CPU seconds once they have stopped using any (the workers have started and are idle)."""
    last = -1.0
    while True:
        now = cpu_seconds(pids)
        if now == last:
            return now
        last = now
        time.sleep(0.3)


def main() -> None:
    settings = wiring.load_settings(sys.argv[1])
    with wiring.open_hubs(settings) as hubs, wiring.open_ledger(settings) as ledger:
        hubs.identify()  # as `feeds daemon` does at start, before its first wake
        daemon = wiring.daemon(settings, hubs, ledger)
        pids = [os.getpid(), *(daemon.pool.pids() if hasattr(daemon.pool, "pids") else [])]
        before = settled(pids)  # a daemon starts once and serves many slots: its start is not the slot's
        own_before = cpu_seconds(pids[:1])
        start = time.perf_counter()
        futures = daemon.wake(utcnow())
        daemon.wait_idle()
        wall = time.perf_counter() - start
        slot_cpu = cpu_seconds(pids) - before
        daemon_cpu = cpu_seconds(pids[:1]) - own_before  # the daemon's own share: the plan, results, alerts
        results = [run for f in futures for run in f.result()]  # each organisation's runs
        daemon.stop(10)
    print(json.dumps({"wall": wall, "slot_cpu": slot_cpu, "daemon_cpu": daemon_cpu, "delivered": sum(r.status == "delivered" for r in results),
                      "failed": sum(r.status == "failed" for r in results),
                      "errors": sorted({r.error for r in results if r.error})[:3]}))


if __name__ == "__main__":  # worker processes are spawned: they import this file without running it
    main()
