"""The alert sender: one thread with a queue, so that no feed's worker waits for an alert's receiver.

A run's worker hands an alert over (``put``) and goes on at once; the
sender sends alerts one after the other, each exchange under its own
deadline (``feeds.alerts``). Each alert is kept in the ledger before it is
queued (``ledger.alert_outbox``): the sender takes it there before sending,
so that two processes never both send it, and marks it done after.
``start`` also queues the alerts a process that stopped left unsent;
``close(timeout)`` lets the queue drain within a deadline, so a command that
exits gets its alert out, bounded, and what is left is sent at the next start.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ledger import AlertOutbox, PendingAlert

log = logging.getLogger("feeds.alerts")

_STOP = object()


class AlertSender:
    """Sends queued alerts with ``send`` (True: sent; False: given up), in order, on one thread."""

    def __init__(self, send: Callable[[PendingAlert], bool]):
        self._send = send
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="alert-sender", daemon=True)

    def start(self, outbox: AlertOutbox | None = None) -> AlertSender:
        """Start sending; first the alerts that a stopped process left in ``outbox`` unsent."""
        self._thread.start()
        if outbox is not None:
            try:
                outbox.prune()
                for alert in outbox.stranded():
                    log.info("feed %s: sending the %s alert to %s that an earlier process left unsent",
                             alert.feed_id, alert.event, alert.recipient)
                    self.put(outbox, alert)
            except Exception as exc:  # the ledger is down: the alerts stay kept for a later start
                log.warning("could not read the alerts left unsent (%s)", exc)
        return self

    def put(self, outbox: AlertOutbox | None, alert: PendingAlert) -> None:
        """Queue ``alert`` (kept in ``outbox``, or in memory only when the ledger could not keep it)."""
        self._queue.put((outbox, alert))

    def close(self, timeout: float) -> bool:
        """Send what is queued, waiting ``timeout`` seconds at most; True when everything was done."""
        self._queue.put(_STOP)
        started = time.monotonic()
        self._thread.join(timeout)
        if self._thread.is_alive():
            left = max(0, self._queue.qsize() - 1)
            log.warning("alerts: %d alert(s) still queued after %.0f s; they stay in the ledger and are sent at "
                        "the next start", left + 1, time.monotonic() - started)
            return False
        return True

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            outbox, alert = item  # type: ignore[misc]
            try:
                self._one(outbox, alert)
            except Exception:  # a bug must not stop the alerts after it
                log.exception("feed %s: the %s alert to %s failed unexpectedly", alert.feed_id, alert.event,
                              alert.recipient)

    def _one(self, outbox: AlertOutbox | None, alert: PendingAlert) -> None:
        kept = outbox is not None and alert.id is not None
        if kept and not outbox.take(alert.id):  # type: ignore[union-attr, arg-type]
            return  # done meanwhile, or another process is sending it
        outcome = "sent" if self._send(alert) else "given up"
        if kept:
            outbox.done(alert.id, outcome)  # type: ignore[union-attr, arg-type]
