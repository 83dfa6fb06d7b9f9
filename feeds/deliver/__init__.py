"""Delivery: one module per method behind one small dispatcher.

``METHODS`` is the registry: adding a delivery method is one module in this
folder (a ``Method`` subclass and its ``METHOD``, see ``method.py``) and one
line here. The feed model, the validator, ``feeds schema``, the settings, the
views and the outbox all read what they need from the registry.

``deliver()`` writes to the outbox when one is set, and otherwise calls the
method's ``send`` under the delivery retry policy (SPEC §4); ``probe()`` tests
a destination without sending a feed (``feeds check``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import tenacity

from .. import redact, retry
from ..errors import DeliveryError
from ..sections import Section
from . import email, ftp, sitc
from .base import Attempt, Context, HostKeyStore, Job, Target
from .method import Method
from .protocols import SECTIONS as PROTOCOL_SECTIONS

if TYPE_CHECKING:
    from ..config import FeedConfig
    from ..settings import Settings

__all__ = ["METHODS", "Attempt", "Context", "HostKeyStore", "Job", "Method", "Target", "deliver", "method_of",
           "probe", "settings_sections"]

log = logging.getLogger("feeds.deliver")

#: delivery_method -> its method, in the order messages list them
METHODS: dict[str, Method] = {
    email.METHOD.name: email.METHOD,
    ftp.METHOD.name: ftp.METHOD,
    sitc.METHOD.name: sitc.METHOD,
}


def method_of(name: str) -> Method:
    return METHODS[name]


def settings_sections() -> dict[str, type[Section]]:
    """The settings sections the methods and their protocols read, by section name."""
    sections: dict[str, type[Section]] = {}
    for method in METHODS.values():
        sections.update(method.settings_sections)
    sections.update(PROTOCOL_SECTIONS)
    return sections


def target_for(feed: FeedConfig, settings: Settings) -> Target:
    """Where a feed's file goes."""
    return METHODS[feed.delivery_method].target(feed, settings)


def deliver(
    job: Job,
    target: Target,
    settings: Settings,
    context: Context,
    *,
    on_attempt: Callable[[Attempt], None] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> tuple[str, int]:
    """Deliver ``job`` to ``target``; return the destination (secrets masked) and the attempts made.

    Every attempt, failed or not, is reported to ``on_attempt``.
    """
    if settings.outbox_path is not None:
        from . import outbox  # lazy: only the sandbox set-up writes to an outbox

        destination = outbox.write(job, target, settings, settings.outbox_path)
        if on_attempt:
            now = datetime.now(timezone.utc)
            on_attempt(Attempt(1, now, now, None))
        return destination, 1
    method = target.method
    policy = retry.delivery_policy(settings)
    label = f"delivery of {job.feed.label()} to {target.describe(job.filename)}"
    count = 0

    def once() -> str:
        nonlocal count
        count += 1
        started = datetime.now(timezone.utc)
        try:
            context.check_cancel()
            try:
                value = method.send(job, target, context, settings)
            except Exception:
                context.check_cancel()  # a connection cut by the deadline fails for that reason, not another
                raise
        except Exception as exc:
            if on_attempt:
                on_attempt(Attempt(count, started, datetime.now(timezone.utc), redact.redact(str(exc))))
            raise
        if on_attempt:
            on_attempt(Attempt(count, started, datetime.now(timezone.utc), None))
        return value

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s failed (%s); trying again (attempt %d of %d)", label, redact.redact(str(exc)),
                    state.attempt_number + 1, policy.attempts)

    retrying = policy.retrying(lambda e: isinstance(e, DeliveryError) and e.transient and not context.cut_off.is_set(),
                               before_sleep=before_sleep, **({"sleep": sleep} if sleep else {}))
    try:
        return retrying(once), count
    except BaseException as exc:
        if context.leftovers and not context.cut_off.is_set():
            method.cleanup(target, context, settings)  # removes what the last attempt could not
        if isinstance(exc, DeliveryError) and exc.transient and count >= policy.attempts:
            raise DeliveryError(f"{exc} (gave up after {count} attempts)", transient=True, reason=exc.reason) from None
        raise


def probe(target: Target, settings: Settings, context: Context) -> str:
    """Test a destination without sending a feed; DeliveryError with a ``reason`` when it fails."""
    return target.method.probe(target, context, settings)
