"""``feeds release RUN_ID``: a held file delivered exactly as it was held, once (SPEC §12).

The release is a run of its own (a manual, delivered one) that sends the
archived bytes of the held run through the same delivery path as any run
(``runner._Run``): the same deadline, cancellation, leftovers and error
mapping. A held run is released at most once, even by two commands at the
same time (``Runs.take_release``), and records by which run. A release is
refused, before anything is sent, when it would no longer be right: the feed
was delivered since (the held file is older than what the recipients have),
is inactive now, or belongs to another organisation now; when its
organisation has no credentials; when the archived file is not the one that
was held.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from . import bounded, redact
from .changes import Changes
from .config import SECRET_FIELDS, HubFeed, validated
from .deliver import Job
from .errors import ConfigError, FeedsError, UsageError
from .hub import HubClient, Hubs, as_hubs
from .ledger import Ledger, RunRow, parse_stamp
from .runner import RunEnvironment, RunResult, _Run, run_deadline


def release(env: RunEnvironment, hub: Hubs | HubClient, ledger: Ledger, run_id: int,
            sleep: Callable[[float], None] | None = None) -> RunResult:
    """``feeds release RUN_ID``: deliver a held file exactly as it was held, and record a delivered run.

    The bytes are the archived ones (their SHA-256 checked against the held
    run's), under the held file name, to where the feed delivers now. The
    held run's slot counts as delivered afterwards, so the daemon does not
    render it again.
    """
    held = _held_run(ledger, run_id)
    path = Path(held.archive_path or "")
    deadline = run_deadline(env)
    with bounded.within(deadline):
        return _release(env, as_hubs(hub), ledger, held, path, deadline, sleep)


def _release(env: RunEnvironment, hubs: Hubs, ledger: Ledger, held: RunRow, path: Path, deadline: bounded.Bound,
             sleep: Callable[[float], None] | None) -> RunResult:
    run_id, feed_id = held.run_id, held.feed_id
    seen = HubFeed.read(hubs.get_feed(feed_id))
    _refuse_if_wrong(ledger, hubs, held, seen)
    if not ledger.runs.take_release(run_id):
        raise FeedsError(f"run {run_id} is released already, or being released right now by another command; "
                         f"`feeds history --id {feed_id}` shows the release")
    try:
        result = _deliver_held(env, hubs, ledger, held, seen, path, deadline, sleep)
    except BaseException:
        ledger.runs.released(run_id, None)
        raise
    ledger.runs.released(run_id, result.run_id if result.status == "delivered" else None)
    return result


def _refuse_if_wrong(ledger: Ledger, hubs: Hubs, held: RunRow, seen: HubFeed) -> None:
    """A release that would no longer be right is refused with one sentence, before anything is sent."""
    feed = f"feed {held.feed_id}"
    if held.released_by is not None:
        raise FeedsError(f"run {held.run_id} was released already, by run {held.released_by}; a held file is "
                         "released once")
    newer = ledger.runs.delivered_after(held.feed_id, held.run_id)
    if newer is not None:
        raise FeedsError(f"{feed} was delivered after the held run {held.run_id} (run {newer.run_id}, "
                         f"{(newer.ended_at or newer.started_at)[:16].replace('T', ' ')} UTC); the held file is "
                         "older than what the recipients have and is not sent over it")
    if not seen.active:
        raise FeedsError(f"{feed} is inactive now; a held file of an inactive feed is not released (activate the "
                         "feed on Hub first)")
    if seen.organisation != held.organisation:
        raise FeedsError(f"{feed} belongs to organisation {seen.organisation} now, and the held file was made from "
                         f"organisation {held.organisation}'s catalogue; it is not released")
    hubs.for_organisation(seen.organisation)  # no credentials of its own: ConfigError naming the table to add


def _deliver_held(env: RunEnvironment, hubs: Hubs, ledger: Ledger, held: RunRow, seen: HubFeed, path: Path,
                  deadline: bounded.Bound, sleep: Callable[[float], None] | None) -> RunResult:
    run_id, feed_id = held.run_id, held.feed_id
    with redact.run_scope() as secrets:
        result = RunResult(feed_id, seen.name, "manual", method=seen.method or "", organisation=seen.organisation,
                           changes=Changes.from_json(held.changes), secrets=secrets)
        run = _Run(env, ledger, result, None, sleep, deadline)
        run.start()
        result.filename, result.rows, result.bytes, result.sha256 = (held.filename or "", held.rows or 0,
                                                                     held.bytes or 0, held.sha256 or "")
        run.archived = path
        with run.recorded():
            feed = validated(seen.raw, feed_id)
            secrets.add(*(getattr(feed, name) for name in SECRET_FIELDS))
            target = env.deliveries.target(feed)
            result.destination = target.describe(result.filename)
            ledger.runs.update(result.run_id or 0, filename=result.filename, rows=result.rows, bytes=result.bytes,
                               sha256=result.sha256, destination=result.destination, changes=held.changes,
                               archive_path=str(path))
            job = Job(feed, path, result.filename, result.bytes, result.sha256, result.rows, result.started_at,
                      result.run_id, changes=result.changes)
            run.deliver(feed, job, target)
            snapshot = ledger.snapshots.of_run(run_id)
            if snapshot is not None:
                ledger.snapshots.store(result.run_id or 0, feed_id, snapshot)
                ledger.snapshots.prune(feed_id, result.run_id or 0)
            if held.slot_start:
                ledger.claims.settle(feed_id, parse_stamp(held.slot_start), "delivered")  # type: ignore[arg-type]
    return result


def _held_run(ledger: Ledger, run_id: int) -> RunRow:
    """The held run to release, its archived file checked; UsageError or ConfigError otherwise."""
    held = ledger.runs.get(run_id)
    if held is None:
        raise UsageError(f"there is no run {run_id} in the ledger; `feeds history` lists the runs")
    if held.status != "held":
        raise UsageError(f"run {run_id} is {held.status}, not held; only a held file can be released")
    path = Path(held.archive_path or "")
    if not held.archive_path or not path.is_file():
        raise ConfigError(f"run {run_id}'s held file is no longer in the archive ({held.archive_path}); "
                          f"run the feed again with: feeds run --id {held.feed_id}")
    if hashlib.sha256(path.read_bytes()).hexdigest() != held.sha256:
        raise ConfigError(f"run {run_id}'s archived file does not match what was held (SHA-256 differs); "
                          "nothing was sent")
    return held
