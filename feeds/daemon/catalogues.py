"""The catalogues of one wake: one per credential set with a feed due, read once, let go when done."""

from __future__ import annotations

import threading

from ..catalog import Catalogue, load_catalogue
from ..errors import FeedsError, HubError
from ..hub import Credentials, HubClient
from ..metrics import Metrics


class SharedCatalogue:
    """One credential set's catalogue in one wake, shared by its feeds: read on first use only,
    let go when the last of its ``users`` is done, so that memory follows the catalogues in use."""

    def __init__(self, hub: HubClient, metrics: Metrics | None, users: int = 1):
        self._hub = hub
        self._metrics = metrics
        self._lock = threading.Lock()
        self._value: Catalogue | None = None
        self._error: Exception | None = None
        self.users = users

    def release(self) -> None:
        with self._lock:
            self.users -= 1
            if self.users <= 0:
                self._value = None

    def __call__(self) -> Catalogue:
        with self._lock:
            if self._value is None and self._error is None:
                try:
                    self._value = load_catalogue(self._hub)
                    if self._metrics:
                        self._metrics.catalogue_reads.labels("ok").inc()
                except Exception as exc:  # every feed of the wake reports it; none reads again
                    self._error = exc
                    if self._metrics:
                        self._metrics.catalogue_reads.labels("failed").inc()
            if self._error is not None:
                if isinstance(self._error, FeedsError):
                    raise HubError(str(self._error))
                raise HubError(f"the catalogue could not be read: {type(self._error).__name__}: {self._error}")
            assert self._value is not None
            return self._value


class WakeCatalogues:
    """The catalogues of one wake: one per credential set with a feed due, each read once."""

    def __init__(self, metrics: Metrics | None):
        self._metrics = metrics
        self._shared: dict[str, SharedCatalogue] = {}

    def expect(self, source: Credentials) -> None:
        """One more feed of the wake will use ``source``'s catalogue (called before any run starts)."""
        shared = self._shared.get(source.table)
        if shared is None:
            self._shared[source.table] = SharedCatalogue(source.client, self._metrics)
        else:
            shared.users += 1

    def __call__(self, source: Credentials) -> Catalogue:
        return self._shared[source.table]()

    def release(self, source: Credentials | None) -> None:
        if source is not None and source.table in self._shared:
            self._shared[source.table].release()
