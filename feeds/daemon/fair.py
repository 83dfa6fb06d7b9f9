"""Runs waiting for a worker, taken organisation by organisation in turn (SPEC §11)."""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from typing import Any


class FairQueue:
    """One organisation's feeds never hold more than ``per_organisation`` workers at once.

    An organisation whose servers stall its runs cannot keep the others'
    feeds waiting, and workers start on several organisations' catalogues at
    once.
    """

    def __init__(self, per_organisation: int):
        self.per_organisation = per_organisation
        self._waiting: OrderedDict[Any, deque[Any]] = OrderedDict()
        self._running: Counter[Any] = Counter()

    def put(self, organisation: Any, entry: Any) -> None:
        self._waiting.setdefault(organisation, deque()).append(entry)

    def take(self) -> tuple[Any, Any] | None:
        """The next (organisation, entry) that may start now, or None."""
        for organisation, entries in self._waiting.items():
            if entries and self._running[organisation] < self.per_organisation:
                entry = entries.popleft()
                self._running[organisation] += 1
                self._waiting.move_to_end(organisation)  # the others come first next time
                if not entries:
                    del self._waiting[organisation]
                return organisation, entry
        return None

    def done(self, organisation: Any) -> None:
        self._running[organisation] -= 1

    def drain(self) -> list[Any]:
        entries = [entry for queue in self._waiting.values() for entry in queue]
        self._waiting.clear()
        return entries
