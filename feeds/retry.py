"""The retry policy: how often and how patiently anything is tried again.

One place for every "try again", each a named policy: Hub requests
(``HUB``), delivery attempts (``DELIVERY``), alerts (``ALERTS``), setting up
the ledger's tables while another process does the same (``LEDGER_SETUP``),
the daemon's re-reads of the feed list (``FEED_LIST``), whole re-reads of a
catalogue (``CATALOGUE_READS``) and the runs of one slot (``RUNS_PER_SLOT``).
The settings that tune a policy (``hub.attempts``, ``delivery.attempts``,
``delivery.retry_wait``) take their defaults from here; the parts that retry
take their policy from here and define no numbers of their own. Changing how
feeds retries is a change to this file alone.

What counts as transient stays with whoever knows: the Hub client (status
codes), each delivery method (its library's errors). This is the only module
that uses tenacity.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import tenacity

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries, pausing ``first_wait`` seconds, doubling up to ``max_wait``, plus up to ``jitter``."""

    attempts: int
    first_wait: float
    max_wait: float
    jitter: float = 0.0

    def but(self, **changes: Any) -> RetryPolicy:
        """This policy with some numbers changed (a setting such as ``hub.attempts``)."""
        return dataclasses.replace(self, **changes)

    def pause(self, retry_number: int) -> float:
        """The pause before retry ``retry_number`` (1 for the first retry), without jitter."""
        return min(self.first_wait * 2 ** (retry_number - 1), self.max_wait)

    def pauses(self) -> Iterator[float]:
        """The pauses between the attempts, without jitter (the daemon's feed-list loop)."""
        number = 1
        while True:
            yield self.pause(number)
            number += 1

    def run(
        self,
        call: Callable[[], T],
        retry_if: Callable[[BaseException], bool],
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[BaseException, int], None] | None = None,
        pause_for: Callable[[BaseException], float | None] | None = None,
    ) -> T:
        """Call ``call`` until it succeeds, fails with an error ``retry_if`` refuses, or the attempts are used.

        The last error is raised as it was. ``on_retry(error, next_attempt)``
        is told before each pause; ``pause_for(error)`` may replace a pause
        (Hub's Retry-After).
        """
        exponential = tenacity.wait_exponential(multiplier=self.first_wait, max=self.max_wait)
        jittered = exponential + tenacity.wait_random(0, self.jitter) if self.jitter else exponential

        def wait(state: tenacity.RetryCallState) -> float:
            if pause_for is not None and state.outcome is not None:
                chosen = pause_for(state.outcome.exception())
                if chosen is not None:
                    return chosen
            return jittered(state)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            if on_retry is not None and state.outcome is not None:
                on_retry(state.outcome.exception(), state.attempt_number + 1)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=wait,
            retry=tenacity.retry_if_exception(retry_if),
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(call)


#: Hub requests (SPEC §1): exponential backoff with jitter; ``hub.attempts`` overrides the attempts
HUB = RetryPolicy(attempts=5, first_wait=0.5, max_wait=30.0, jitter=0.5)
#: delivery attempts (SPEC §4); ``delivery.attempts`` and ``delivery.retry_wait`` override the first two numbers
DELIVERY = RetryPolicy(attempts=3, first_wait=5.0, max_wait=150.0)
#: an alert to the webhook or by mail: a few quick tries, then it is logged (it never fails a run)
ALERTS = RetryPolicy(attempts=3, first_wait=1.0, max_wait=1.0)
#: creating the ledger's tables while another process creates them too
LEDGER_SETUP = RetryPolicy(attempts=10, first_wait=0.1, max_wait=1.0)
#: the daemon's feed list when Hub is down at a wake: 15 s, doubling to 2 min, until the slot nearly ends
FEED_LIST = RetryPolicy(attempts=0, first_wait=15.0, max_wait=120.0)
#: whole re-reads of a catalogue whose page totals do not add up
CATALOGUE_READS = 3
#: a feed that keeps failing is run at most this often per slot (a wrong password should not lock an
#: account with 48 logins a day); its next day's slot tries again
RUNS_PER_SLOT = 3
