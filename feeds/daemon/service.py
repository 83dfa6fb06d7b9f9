"""The daemon as a process: woken at every :00 and :30 UTC, stopped by SIGTERM or SIGINT.

This is the lifecycle alone: the parts (the ``Daemon`` with its Hub clients,
ledger and deliveries, the web server) are built by ``wiring.py`` and handed
over ready. ``Service.run`` installs the signal handlers, starts the
scheduler (APScheduler) and a first wake, waits for a signal, then stops new
work, gives running deliveries ``schedule.shutdown_grace`` seconds, records
what was cut off, lets the alert sender drain (bounded) and exits.
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

    def run(self) -> None:
        """Wake at every :00 and :30 UTC until SIGTERM or SIGINT; then stop and exit the process."""
        stop = threading.Event()

        def on_signal(signum: int, _: Any) -> None:
            log.info("received %s: stopping new work", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        scheduler = BackgroundScheduler(timezone=timezone.utc)
        scheduler.add_job(self._wake, wake_trigger(), id="wake", misfire_grace_time=600, coalesce=True,
                          max_instances=2)
        scheduler.start()
        log.info("feeds daemon started (pid %d): waking at every :00 and :30 UTC, at most %d feeds at once",
                 os.getpid(), self.daemon.schedule.max_parallel)
        threading.Thread(target=self._wake, name="startup-wake", daemon=True).start()
        while not stop.wait(1.0):
            pass
        scheduler.shutdown(wait=False)
        cut = self.daemon.stop(self.grace)
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

    def _wake(self) -> None:
        try:
            self.daemon.wake()
        except Exception:
            log.exception("the wake-up failed; the daemon goes on")
