"""A run by hand (``feeds run --id N``) counts for the slot it runs in (SPEC §5).

A feed run by hand after its latest due slot started is that slot's
delivery: its claim is taken (so a daemon does not run the slot beside it),
and settled by the run, so the daemon does not send the feed again in that
slot. A slot a daemon is delivering right now is refused, naming the slot; a
slot already delivered is sent again (that is what the person asked for) and
its claim is left as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from .config import HubFeed
from .errors import FeedsError
from .hub import Hubs
from .ledger import Ledger
from .runner import RunEnvironment, RunResult, run_feed, settle_interrupted
from .slots import latest_due, utcnow

log = logging.getLogger("feeds.run")


def run_by_hand(env: RunEnvironment, hubs: Hubs, ledger: Ledger, feed_id: int, *, lease: timedelta,
                force: bool = False, on_page: Callable[[int, int | None], None] | None = None,
                guard: bool = True, raw: dict[str, Any] | None = None) -> RunResult:
    """Run ``feed_id`` now, as its latest due slot's delivery when it is active; the run's result. ``raw``: its
    configuration, when the caller has read it already."""
    if raw is None:
        raw = hubs.get_feed(feed_id)
    seen = HubFeed.read(raw)
    slot = latest_due(seen.timeslot, utcnow()) if seen.active and seen.timeslot is not None else None
    claimed = False
    if slot is not None:
        taken: Any = ledger.claims.take_manual(feed_id, slot, lease)
        if taken == "busy":
            raise FeedsError(f"feed {feed_id} ({seen.name}) is being delivered by a daemon right now, in its "
                             f"{slot:%H:%M} UTC slot; it is not sent twice: `feeds history --id {feed_id}` shows "
                             "when it is done")
        claimed = taken != "delivered"
        if claimed and taken.previous_run is not None:  # a run a stopped process left: settled before anything
            claimed = _settle_interrupted(env, ledger, raw, feed_id, slot, taken.previous_run)
    try:
        result = run_feed(env, hubs, ledger, feed_id, trigger="manual", force=force, raw=raw, on_page=on_page,
                          guard=guard, slot_start=slot if claimed else None,
                          on_started=(lambda run_id: ledger.claims.attach_run(feed_id, slot, run_id))
                          if claimed else None)
    except BaseException:
        if claimed:
            ledger.claims.settle(feed_id, slot, "failed")  # type: ignore[arg-type]
        raise
    if claimed:
        status = result.status if result.status in ("delivered", "held") else "failed"
        ledger.claims.settle(feed_id, slot, "unconfirmed" if result.unconfirmed else status)  # type: ignore[arg-type]
    return result


def _settle_interrupted(env: RunEnvironment, ledger: Ledger, raw: dict[str, Any], feed_id: int, slot: Any,
                        run_id: int) -> bool:
    """The slot's run a stopped process left, settled as the daemon settles it: delivered when its file was made
    visible (the run by hand is then a resend, as for any slot already delivered), else failed. Whether this run
    by hand still holds the slot's claim."""
    try:
        previous = settle_interrupted(env, ledger, raw, run_id)
    except FeedsError as exc:
        log.warning("feed %s: run %s was interrupted and %s; the run by hand goes ahead as asked", feed_id, run_id, exc)
        return True
    if previous in ("delivered", "unconfirmed"):
        ledger.claims.settle(feed_id, slot, previous)
        log.warning("feed %s: run %s had already delivered this slot before its process stopped; this run by hand "
                    "sends the file again, as asked", feed_id, run_id)
        return False
    return True
