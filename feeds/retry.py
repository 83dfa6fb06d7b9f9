"""The retry policy: how often and how patiently anything is tried again.

One place for every "try again": the Hub client's requests, delivery
attempts, the daemon's re-reads of the feed list, catalogue re-reads and the
runs of one slot. Each ``RetryPolicy`` is built from the settings; changing
how feeds retries is a change here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import tenacity

if TYPE_CHECKING:  # settings import the delivery methods; this module stays a leaf
    from .settings import Settings

#: a feed that keeps failing is run at most this often per slot (a wrong password
#: should not lock an account with 48 logins a day); its next day's slot tries again
RUNS_PER_SLOT = 3
#: whole re-reads of a catalogue whose page totals do not add up
CATALOGUE_READS = 3


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries, pausing ``first_wait`` seconds, doubling up to ``max_wait``, plus up to ``jitter``."""

    attempts: int
    first_wait: float
    max_wait: float
    jitter: float = 0.0

    def pause(self, retry_number: int) -> float:
        """The pause before retry ``retry_number`` (1 for the first retry), without jitter."""
        return min(self.first_wait * 2 ** (retry_number - 1), self.max_wait)

    def pauses(self) -> Iterator[float]:
        """The pauses between the attempts, without jitter (the daemon's feed-list loop)."""
        number = 1
        while True:
            yield self.pause(number)
            number += 1

    def wait(self) -> tenacity.wait.wait_base:
        wait = tenacity.wait_exponential(multiplier=self.first_wait, max=self.max_wait)
        return wait + tenacity.wait_random(0, self.jitter) if self.jitter else wait

    def retrying(
        self,
        retry_if: Callable[[BaseException], bool],
        *,
        sleep: Callable[[float], None] = time.sleep,
        before_sleep: Callable[[tenacity.RetryCallState], None] | None = None,
        wait: Callable[[tenacity.RetryCallState], float] | None = None,
    ) -> tenacity.Retrying:
        """A tenacity ``Retrying`` for this policy; the last error is re-raised as it was."""
        options: dict[str, Any] = {"before_sleep": before_sleep} if before_sleep else {}
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=wait or self.wait(),
            retry=tenacity.retry_if_exception(retry_if),
            sleep=sleep,
            reraise=True,
            **options,
        )


def hub_policy(attempts: int, backoff: float = 0.5) -> RetryPolicy:
    """Hub requests (SPEC §1): exponential backoff with jitter; ``hub.attempts`` tries."""
    return RetryPolicy(attempts=attempts, first_wait=backoff, max_wait=backoff * 60, jitter=backoff)


def delivery_policy(settings: Settings) -> RetryPolicy:
    """Delivery attempts (SPEC §4): ``delivery.attempts`` tries, pauses from ``delivery.retry_wait``."""
    wait = settings.delivery.retry_wait
    return RetryPolicy(attempts=settings.delivery.attempts, first_wait=wait, max_wait=wait * 30)


#: the daemon's feed list when Hub is down at a wake: 15 s, doubling to 2 min, until the slot nearly ends
FEED_LIST = RetryPolicy(attempts=0, first_wait=15.0, max_wait=120.0)
