"""``feeds check``: test the Hub credentials and the delivery targets, sending no feed (SPEC §10).

The "test connection" button of feed tools: each credential set gets a token
and asks ``whoami``; each active feed's destination (or feed N's) is probed by
its delivery method: an upload target is connected to, logged in to, and a
small probe file is written under a hidden temporary name, renamed and
deleted; a mail server is connected to, TLS started and logged in to, and no
mail is sent. Feeds that share a destination (every SITC feed, every EMAIL
feed's mail server) share one probe.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .config import HubFeed
from .deliver import Context, limits, probe
from .errors import ConfigError, DeliveryError, FeedsError, SettingsError
from .runner import validated

if TYPE_CHECKING:
    from .deliver import Target
    from .hub import Credentials, Hubs
    from .ledger import Ledger
    from .settings import Settings


@dataclass
class Check:
    """One test: what was tested, whether it passed, the short reason and the whole sentence."""

    test: str
    ok: bool
    detail: str
    reason: str | None = None

    def line(self) -> str:
        verdict = "ok    " if self.ok else "FAILED"
        why = f"{self.reason}: " if self.reason and not self.ok else ""
        return f"{verdict} {self.test}: {why}{self.detail}"

    def to_json(self) -> dict[str, Any]:
        return {"test": self.test, "ok": self.ok, "reason": self.reason, "detail": self.detail}


def check_credentials(credentials: Credentials) -> Check:
    test = f"Hub credentials {credentials.label}"
    try:
        me = credentials.client.whoami()
    except FeedsError as exc:
        refused = getattr(exc, "status", None) in (400, 401, 403)
        return Check(test, False, str(exc), "login refused" if refused else "Hub not reachable")
    organisation, user = me.get("organisation"), me.get("name")
    if credentials.expected is not None and organisation != credentials.expected:
        return Check(test, False, f"the credentials belong to organisation {organisation}, not "
                                  f"{credentials.expected}", "wrong organisation")
    return Check(test, True, f"token granted; user {user!r} of organisation {organisation}")


def _probe_key(target: Target) -> tuple[Any, ...]:
    return (target.method.name if target.protocol != "EMAIL" else "EMAIL", target.protocol, target.host,
            target.port, target.user, target.directory)


def _probe_outbox(settings: Settings) -> str:
    folder = settings.outbox_path
    assert folder is not None
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".feeds-probe-", suffix=".part", dir=folder)
    os.close(fd)
    os.unlink(name)
    return f"delivery.outbox is set: nothing leaves this machine; {folder} is writable"


def check_all(settings: Settings, hubs: Hubs, ledger: Ledger, feed_id: int | None = None) -> list[Check]:
    """Every test, in order: credentials first, then one per feed destination."""
    checks = [check_credentials(credentials) for credentials in hubs.credentials]
    if not all(c.ok for c in checks):
        return checks  # the feeds cannot be listed without working credentials
    raws = [hubs.get_feed(feed_id)] if feed_id is not None else hubs.list_feeds()
    probed: dict[tuple[Any, ...], Check] = {}
    for raw in raws:
        seen = HubFeed.read(raw)
        if feed_id is None and not seen.active:
            continue
        test = seen.label()
        try:
            feed = validated(raw, seen.id)
            target = feed.method.target(feed, settings)
        except (ConfigError, SettingsError) as exc:
            checks.append(Check(test, False, str(exc), "configuration invalid"))
            continue
        test = f"{test} -> {target.describe()}"
        if settings.outbox_path is not None:
            try:
                checks.append(Check(test, True, _probe_outbox(settings)))
            except OSError as exc:
                checks.append(Check(test, False, f"{settings.outbox_path}: {exc.strerror}", "outbox not writable"))
            continue
        key = _probe_key(target)
        if key not in probed:
            deadline = settings.delivery.run_deadline_minutes
            context = Context(timeout=settings.delivery.timeout, host_keys=ledger,
                              allowed=settings.delivery.allowed_networks,
                              deadline_text=f"delivery.run_deadline_minutes ({deadline:g} min)")
            try:
                with limits.Watchdog(deadline * 60) as watchdog:
                    watchdog.watch(context)
                    try:
                        probed[key] = Check(test, True, probe(target, settings, context))
                    except Exception:
                        context.check_cancel()  # cut by the deadline: say so
                        raise
            except DeliveryError as exc:
                probed[key] = Check(test, False, str(exc), exc.reason or "failed")
        first = probed[key]
        checks.append(Check(test, first.ok, first.detail, first.reason))
    return checks
