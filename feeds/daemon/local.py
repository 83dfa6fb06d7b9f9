"""The embedded engine (SQLite, one daemon): organisations' work waits here for a free place.

One piece of work per organisation runs at a time, organisations are taken
in turn (SPEC §11: one organisation whose servers stall cannot keep the
others waiting), and at most ``capacity`` pieces run at once. A newer piece
for an organisation that still waits joins the waiting one rather than
queueing twice. A fleet on PostgreSQL uses ``fleet.py`` instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .fair import FairQueue
from .work import OrganisationWork, WorkResult


class LocalQueue:
    def __init__(self, pool: Any, capacity: int, finished: Callable[[WorkResult], Any]):
        self._pool = pool
        self._capacity = capacity
        self._finished = finished
        self._fair = FairQueue(per_organisation=1)
        self._waiting: dict[Any, tuple[OrganisationWork, Future[Any]]] = {}
        self._busy = 0
        self._lock = threading.Lock()
        self._closed = False

    def put(self, work: OrganisationWork) -> Future[Any]:
        """Queue ``work``; the future gives what ``finished`` made of its result (None if never started)."""
        with self._lock:
            waiting = self._waiting.get(work.organisation)
            if waiting is not None:  # join the organisation's waiting piece: one catalogue read for both
                known = {(due.feed_id, due.slot) for due in waiting[0].feeds}
                merged = waiting[0].feeds + tuple(d for d in work.feeds if (d.feed_id, d.slot) not in known)
                self._waiting[work.organisation] = (OrganisationWork(work.organisation, work.slot, merged),
                                                    waiting[1])
                return waiting[1]
            future: Future[Any] = Future()
            self._waiting[work.organisation] = (work, future)
            self._fair.put(work.organisation, work.organisation)
        self._dispatch()
        return future

    def _dispatch(self) -> None:
        with self._lock:
            while self._busy < self._capacity and not self._closed:
                taken = self._fair.take()
                if taken is None:
                    return
                organisation = taken[0]
                work, future = self._waiting.pop(organisation)
                if not future.set_running_or_notify_cancel():
                    self._fair.done(organisation)
                    continue
                self._busy += 1
                inner = self._pool.submit(work)
                inner.add_done_callback(lambda done, o=organisation, f=future: self._done(o, f, done))

    def _done(self, organisation: Any, future: Future[Any], done: Future[WorkResult]) -> None:
        try:
            future.set_result(self._finished(done.result()))
        except BaseException as exc:
            future.set_exception(exc)
        finally:
            with self._lock:
                self._busy -= 1
                self._fair.done(organisation)
            self._dispatch()

    def depth(self) -> int:
        """Pieces of work waiting for a place."""
        with self._lock:
            return len(self._waiting)

    def close(self) -> int:
        """No more work starts; what waits is dropped (caught up at the next start). How many were dropped."""
        with self._lock:
            self._closed = True
            dropped = list(self._waiting.values())
            self._waiting.clear()
            self._fair.drain()
        for _, future in dropped:
            future.cancel()
        return len(dropped)
