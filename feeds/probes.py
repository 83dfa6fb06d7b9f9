"""Probes (``feeds check``): test the Hub credentials and the delivery targets, sending no feed (SPEC §10).

The "test connection" button of feed tools: each credential set gets a token
and asks ``whoami``; each active feed's destination (or feed N's) is probed by
its delivery method: an upload target is connected to, logged in to, and a
small probe file is written under a hidden temporary name, renamed and
deleted; a mail server is connected to, TLS started and logged in to, and no
mail is sent. Feeds that share a destination (every SITC feed, every EMAIL
feed's mail server, upload targets with the same login and password) share
one probe. A feed whose organisation has no credentials fails: every run of
it would.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import redact
from .config import HubFeed, validated
from .deliver import Deliveries, limits
from .errors import ConfigError, DeliveryError, FeedsError, SettingsError

if TYPE_CHECKING:
    from .deliver import Target
    from .hub import Credentials, Hubs
    from .ledger import Ledger


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


def _probe_outbox(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".feeds-probe-", suffix=".part", dir=folder)
    os.close(fd)
    os.unlink(name)
    return f"delivery.outbox is set: nothing leaves this machine; {folder} is writable"


def check_all(deliveries: Deliveries, hubs: Hubs, ledger: Ledger, feed_id: int | None = None) -> list[Check]:
    """Every test, in order: credentials first, then one per feed destination.

    Each feed is checked in its own secrets scope, and its own password is
    masked in its line whatever its length: a server may echo what it was
    sent. Feeds share a probe only when their whole destination, password
    included, is the same (``Method.probe_key``).
    """
    checks = [check_credentials(credentials) for credentials in hubs.credentials]
    if not all(c.ok for c in checks):
        return checks  # the feeds cannot be listed without working credentials
    raws = [hubs.get_feed(feed_id)] if feed_id is not None else hubs.list_feeds()
    probed: dict[Hashable, Check] = {}
    for raw in raws:
        seen = HubFeed.read(raw)
        if feed_id is None and not seen.active:
            continue
        passwords = seen.secrets()
        with redact.run_scope() as secrets:
            secrets.add(*passwords)
            check = _check_feed(seen, deliveries, hubs, ledger, probed)
            detail = redact.mask_known(secrets.mask(check.detail), *passwords)
        checks.append(Check(check.test, check.ok, detail, check.reason))
    return checks


def _check_feed(seen: HubFeed, deliveries: Deliveries, hubs: Hubs, ledger: Ledger,
                probed: dict[Hashable, Check]) -> Check:
    """One feed's test: its configuration, its organisation's credentials, then its destination's probe
    (shared with the feeds before it that have the same ``probe_key``)."""
    test = seen.label()
    try:
        feed = validated(seen.raw, seen.id)
        target = deliveries.target(feed)
    except (ConfigError, SettingsError) as exc:
        return Check(test, False, str(exc), "configuration invalid")
    test = f"{test} -> {target.describe()}"
    try:
        hubs.for_organisation(feed.organisation)  # else every run fails before its catalogue is read
    except ConfigError as exc:
        return Check(test, False, str(exc), "no credentials")
    if deliveries.outbox is not None:
        try:
            return Check(test, True, _probe_outbox(deliveries.outbox))
        except OSError as exc:
            return Check(test, False, f"{deliveries.outbox}: {exc.strerror}", "outbox not writable")
    key = target.method.probe_key(target)
    if key not in probed:
        probed[key] = _probe(deliveries, ledger, target)
    first = probed[key]
    return Check(test, first.ok, first.detail, first.reason)


def _probe(deliveries: Deliveries, ledger: Ledger, target: Target) -> Check:
    """Probe one destination within the run deadline: the verdict, without a test name yet."""
    context = deliveries.context(host_keys=ledger.host_keys)
    try:
        with limits.Watchdog(deliveries.settings.deadline_seconds) as watchdog:
            watchdog.watch(context)
            try:
                return Check("", True, deliveries.probe(target, context))
            except Exception:
                context.check_cancel()  # cut by the deadline: say so
                raise
    except DeliveryError as exc:
        return Check("", False, str(exc), exc.reason or "failed")
