"""Faults the sandbox can be told to commit, as Hub and networks commit them (SPEC §9).

Tests and benchmarks add ``Fault``s to a sandbox; ``feeds sandbox
--fault-rate`` adds random ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class Fault:
    """A programmed misbehaviour for the requests it matches.

    kind: ``status`` (answer ``status``, with ``retry_after`` when given),
    ``delay`` (wait ``seconds`` first), ``reset`` (cut the connection in the
    middle of the body), ``malformed`` (a 200 with broken JSON),
    ``no_headers`` (leave out the pagination headers), ``expire_tokens``
    (every token issued so far stops working), ``shift`` (a product is added
    to the head of the catalogue, or removed with ``remove=True``, just before
    the answer), ``wrong_types`` (one product of the page gets a string price,
    a null name and negative stock).
    """

    kind: str
    path: str = "/products"
    page: int | None = None
    times: int = 1
    after: int = 0
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    remove: bool = False
    seen: int = 0
    hits: int = 0

    def matches(self, method: str, path: str, page: int | None) -> bool:
        """Whether this request (``path`` or a path under it) gets the fault; counts what it hits."""
        if not (path == self.path or path.startswith(self.path + "/")):
            return False
        if self.page is not None and page != self.page:
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.times >= 0 and self.hits >= self.times:
            return False
        self.hits += 1
        return True


class CutConnection(Exception):
    """Raised in the middle of a body: the server closes the connection there.

    Not a ConnectionError: wsgiref ignores those, and the connection would stay
    open with the client waiting for the rest of the body.
    """


def cut(body: bytes) -> Iterable[bytes]:
    """Half an answer, then the connection is cut."""
    yield body[: len(body) // 2]
    raise CutConnection("sandbox fault: connection cut in the middle of the answer")
