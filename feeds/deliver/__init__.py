"""Delivery: one module per method behind one small dispatcher.

``METHODS`` is the registry: adding a delivery method is one module in this
folder (a ``Method`` subclass and its ``METHOD``, see ``method.py``) and one
line here. The feed model, the validator, ``feeds schema``, the settings, the
views and the outbox all read what they need from the registry.

``Deliveries`` is the dispatcher, built once from ``[delivery]`` and the
methods' own sections: it finds a feed's target, sends a file under the
delivery retry policy (SPEC §4), or writes it to the outbox when one is set,
and probes a destination without sending a feed (``feeds check``). Each
method is handed its own sections alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from .. import redact
from ..errors import DeliveryError, Unconfirmed
from ..sections import Section
from . import email, ftp, sitc
from .base import Attempt, Context, HostKeyStore, Job, Target
from .method import Method, Own
from .settings import DeliverySettings

if TYPE_CHECKING:
    from ..config import FeedConfig

__all__ = ["METHODS", "Attempt", "Context", "Deliveries", "DeliverySettings", "HostKeyStore", "Job", "Method",
           "Target", "settings_sections"]

log = logging.getLogger("feeds.deliver")

#: delivery_method -> its method, in the order messages list them
METHODS: dict[str, Method] = {
    email.METHOD.name: email.METHOD,
    ftp.METHOD.name: ftp.METHOD,
    sitc.METHOD.name: sitc.METHOD,
}


def settings_sections() -> dict[str, type[Section]]:
    """The settings sections the methods (and their protocols) read, by section name."""
    sections: dict[str, type[Section]] = {}
    for method in METHODS.values():
        sections.update(method.settings_sections)
    return sections


class Deliveries:
    """Delivering files as the settings say: ``[delivery]``, and each method with its own sections."""

    def __init__(self, delivery: DeliverySettings, sections: Mapping[str, Section]):
        self.settings = delivery
        self._prepared = False
        self._own = {name: SimpleNamespace(**{key: sections[key] for key in method.settings_sections})
                     for name, method in METHODS.items()}

    def prepare(self) -> None:
        """Every method's ``prepare``: a long-lived process calls it once, at its start."""
        for method in METHODS.values():
            method.prepare()
        self._prepared = True

    def prepare_meanwhile(self, target: Target) -> None:
        """``target``'s method prepared on a thread of its own while the caller reads the catalogue (a run by
        hand); nothing when every method was prepared at the process's start (the daemon and its workers). A
        failure there is met again, and reported, where the delivery needs what failed."""
        if self._prepared:
            return

        def prepare() -> None:
            try:
                target.method.prepare(target)
            except Exception:  # noqa: BLE001
                pass

        threading.Thread(target=prepare, name="prepare", daemon=True).start()

    @property
    def outbox(self) -> Path | None:
        return self.settings.outbox_path

    def own(self, method: Method) -> Own:
        """The settings sections ``method`` reads, and no others."""
        return self._own[method.name]

    def target(self, feed: FeedConfig) -> Target:
        """Where a feed's file goes; ConfigError or SettingsError before anything is sent."""
        method = METHODS[feed.delivery_method]
        return method.target(feed, self.own(method))

    def context(self, **options: object) -> Context:
        """A run's delivery context, with ``[delivery]``'s timeout, egress exemptions and deadline text."""
        return Context(timeout=self.settings.timeout, allowed=self.settings.allowed_networks,
                       deadline_text=self.settings.deadline_text, **options)  # type: ignore[arg-type]

    def send(
        self,
        job: Job,
        target: Target,
        context: Context,
        *,
        on_attempt: Callable[[Attempt], None] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> tuple[str, int]:
        """Deliver ``job`` to ``target``; return the destination (secrets masked) and the attempts made.

        Every attempt, failed or not, is reported to ``on_attempt``.
        """
        method = target.method
        own = self.own(method)
        if context.publishing and self._landed(target, context):
            log.warning("%s: the file of an interrupted delivery is in place already; it is not sent again",
                        job.feed.label())
            return target.describe(job.filename), 0
        if self.outbox is not None:
            from . import outbox  # lazy: only the sandbox set-up writes to an outbox

            destination = outbox.write(job, target, own, self.outbox, context)
            if on_attempt:
                now = datetime.now(timezone.utc)
                on_attempt(Attempt(1, now, now, None))
            return destination, 1
        policy = self.settings.policy
        label = f"delivery of {job.feed.label()} to {target.describe(job.filename)}"
        count = 0

        def once() -> str:
            nonlocal count
            count += 1
            started = datetime.now(timezone.utc)
            try:
                context.check_cancel()
                try:
                    if context.publishing and self._landed(target, context):
                        value = target.describe(job.filename)  # the last attempt made it visible after all
                    else:
                        value = method.send(job, target, context, own)
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

        def on_retry(exc: BaseException, attempt: int) -> None:
            log.warning("%s failed (%s); trying again (attempt %d of %d)", label, redact.redact(str(exc)), attempt,
                        policy.attempts)

        def transient(exc: BaseException) -> bool:
            return isinstance(exc, DeliveryError) and exc.transient and not context.cut_off.is_set()

        try:
            return policy.run(once, transient, on_retry=on_retry, **({"sleep": sleep} if sleep else {})), count
        except BaseException as exc:
            if context.leftovers and not context.cut_off.is_set():
                method.cleanup(target, context, own)  # removes what the last attempt could not
            if isinstance(exc, DeliveryError) and exc.transient and count >= policy.attempts:
                raise DeliveryError(f"{exc} (gave up after {count} attempts)", transient=True,
                                    reason=exc.reason) from None
            raise

    def _landed(self, target: Target, context: Context) -> bool:
        """Whether the delivery interrupted at ``context.publishing`` made its file visible; False clears it.

        A method that cannot tell is taken at its word that it may have: the
        file is not sent twice (DeliveryError, permanent).
        """
        if self.outbox is not None:
            from . import outbox

            landed: bool | None = outbox.landed(context)
        else:
            landed = target.method.landed(target, context, self.own(target.method))
        if landed is None:
            raise Unconfirmed(f"{target.describe()}: the delivery was interrupted after the server had the whole "
                              "file, and whether it took it cannot be told; it is not sent again, to avoid a "
                              "duplicate: check with the recipient, then send it by hand (feeds run --id N) if it "
                              "did not arrive")
        if not landed:
            context.publishing = None
        return landed

    def landed(self, target: Target, context: Context) -> bool:
        """Whether an interrupted delivery (``context.publishing``) is in place (a takeover asks before resending)."""
        return self._landed(target, context)

    def probe(self, target: Target, context: Context) -> str:
        """Test a destination without sending a feed; DeliveryError with a ``reason`` when it fails."""
        return target.method.probe(target, context, self.own(target.method))
