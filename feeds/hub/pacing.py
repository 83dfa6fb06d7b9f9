"""Pacing Hub: a pause that every worker honours when Hub asks for one (429 with Retry-After).

Hub counts requests per client, not per thread: when it says "retry after",
every worker waits, not only the one that was told.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable

#: the longest pause a Retry-After may ask for
RETRY_AFTER_CAP = 300.0


class Throttle:
    """A moment before which no request is sent, shared by all workers."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._resume_at = 0.0
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._resume_at = max(self._resume_at, self._clock() + seconds)

    def wait(self, longest: float | None = None) -> None:
        """Wait until the hold is over, or ``longest`` seconds at most (the caller's deadline comes first)."""
        give_up = None if longest is None else self._clock() + longest
        waited_for = None
        while True:
            with self._lock:
                resume_at = self._resume_at
            now = self._clock()
            delay = resume_at - now
            if delay <= 0 or resume_at == waited_for:
                return
            if give_up is not None:
                delay = min(delay, give_up - now)
                if delay <= 0:
                    return
            self._sleep(delay)
            waited_for = resume_at  # wait again only if someone held it longer meanwhile


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)
