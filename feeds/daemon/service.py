"""The daemon as a process: woken at every :00 and :30 UTC, stopped by SIGTERM or SIGINT.

This is the lifecycle alone: the parts (the ``Daemon`` with its Hub clients,
ledger, deliveries and worker processes, the fleet's engine, the web server)
are built by ``wiring.py`` and handed over ready. ``Service.run`` installs
the signal handlers and starts the wakes: APScheduler at every :00 and :30
UTC and a first wake now (one daemon on SQLite), or the fleet's worker, whose
task engine wakes one daemon of the fleet per slot (PostgreSQL). On a signal
it stops taking work, gives running deliveries ``schedule.shutdown_grace``
seconds, records what was cut off, lets the alert sender drain (bounded) and
exits.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import timezone
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from .fleet import Fleet
from .schedule import Daemon

log = logging.getLogger("feeds.daemon")


def wake_trigger() -> Any:
    """Every :00 and :30 UTC."""
    return CronTrigger(minute="0,30", second=0, timezone=timezone.utc)


@dataclass
class Service:
    """A built daemon, and what serves its status page (None without ``--web-port``)."""

    daemon: Daemon
    grace: float
    server: Any = None
    fleet: Fleet | None = None
    processes: int = 1

    def run(self) -> None:
        """Wake at every :00 and :30 UTC until SIGTERM or SIGINT; then stop and exit the process."""
        stop = threading.Event()

        def on_signal(signum: int, _: Any) -> None:
            log.info("received %s: stopping new work", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        scheduler = None
        how = (f"at most {self.daemon.schedule.max_parallel} organisations at once, "
               f"{self.processes} worker process{'es' if self.processes != 1 else ''}")
        if self.fleet is not None:
            self.fleet.start()
            self.fleet.defer_wake()  # this start's catch-up, for the whole fleet
            log.info("feeds daemon started (pid %d) in a fleet on PostgreSQL: taking organisations' work, %s",
                     os.getpid(), how)
        else:
            scheduler = BackgroundScheduler(timezone=timezone.utc)
            scheduler.add_job(self._wake, wake_trigger(), id="wake", misfire_grace_time=600, coalesce=True,
                              max_instances=2)
            scheduler.start()
            log.info("feeds daemon started (pid %d): waking at every :00 and :30 UTC, %s", os.getpid(), how)
            threading.Thread(target=self._wake, name="startup-wake", daemon=True).start()
        while not stop.wait(1.0):
            pass
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        cut = self._stop_fleet() if self.fleet is not None else self.daemon.stop(self.grace)
        if self.daemon.alerts is not None:
            self.daemon.alerts.close()  # the runs' last alerts, bounded; the rest are sent at the next start
        if self.server is not None:
            self.server.shutdown()
        log.info("feeds daemon stopped%s", f"; {len(cut)} run(s) cut off and recorded" if cut else "")
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        # Worker threads still blocked on a network call must not hold the exit.
        os._exit(0)

    def _stop_fleet(self) -> list[Any]:
        """The fleet's worker fetches no more (queued work stays for the others); running work hands back what
        it had not started; after the grace, uploads are cut off before their rename."""
        assert self.fleet is not None
        self.daemon.stopping.set()
        self.daemon.pool.drain()
        self.fleet.stop(timeout=self.grace)
        if self.fleet.running():
            log.warning("shutting down: cutting off deliveries still running after %.1f s", self.grace)
            self.daemon.pool.cancel()
            self.fleet.stop(timeout=10.0)
        cut = self.daemon.stop(0)
        self.fleet.close()
        return cut

    def _wake(self) -> None:
        try:
            self.daemon.wake()
        except Exception:
            log.exception("the wake-up failed; the daemon goes on")
