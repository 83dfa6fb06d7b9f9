"""One feed run, end to end.

configuration (from Hub) -> validation -> catalogue -> file -> delivery ->
ledger entry and archive. Every step that can refuse does so before anything
is sent: an invalid configuration or an unsafe file name fails the run with the
validator's message, and no byte leaves the machine.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from . import archive, failpoints, redact
from .catalog import Catalogue, load_catalogue
from .changes import Changes, Snapshot, columns_of, compare, hold_reason
from .config import SECRET_FIELDS, FeedConfig, HubFeed, check_feed
from .deliver import Attempt, Context, Job, deliver, limits, target_for
from .errors import Cancelled, ConfigError, FeedsError, UsageError
from .filenames import check_filename
from .hub import Credentials, HubClient, Hubs, as_hubs
from .ledger import parse_stamp
from .render import render_feed

if TYPE_CHECKING:
    from .ledger import Ledger
    from .settings import Settings

class _Held(Exception):
    """The guard held the file: the run ends here, archived and recorded, with nothing sent."""


#: the catalogue of a run: one given, or a function of the feed's credentials that returns it
CatalogueSource = Catalogue | Callable[[Credentials], Catalogue] | None

log = logging.getLogger("feeds.run")


@dataclass
class RunResult:
    """What a run did, for the summary line, the ledger and the metrics."""

    feed_id: int | None
    feed_name: str
    trigger: str
    status: str = "running"
    method: str = ""
    rows: int = 0
    bytes: int = 0
    sha256: str = ""
    filename: str = ""
    destination: str = ""
    attempts: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    ended_at: datetime | None = None
    run_id: int | None = None
    slot_start: datetime | None = None
    organisation: int | None = None
    changes: Changes | None = None
    #: the run's secrets (its feed's password): what it says later, outside the run, is masked with them too
    secrets: redact.Secrets = field(default_factory=redact.current, repr=False, compare=False)

    def mask(self, text: str) -> str:
        return self.secrets.mask(text)

    @property
    def seconds(self) -> float:
        end = self.ended_at or datetime.now(timezone.utc)
        return (end - self.started_at).total_seconds()

    def summary(self) -> str:
        who = f"feed {self.feed_id} ({self.feed_name})" if self.feed_name else f"feed {self.feed_id}"
        if self.status == "failed":
            line = f"{who}: failed after {self.seconds:.1f} s: {self.error}"
        elif self.status == "held":
            line = f"{who}: held {self.rows} rows, not sent: {self.error}"
        else:
            verb = {"delivered": "delivered", "rendered": "rendered"}.get(self.status, self.status)
            line = (
                f"{who}: {verb} {self.rows} rows, {self.bytes} bytes"
                + (f" to {self.destination}" if self.destination else "")
                + f" in {self.seconds:.1f} s"
            )
        if self.changes is not None and self.status in ("delivered", "held", "rendered"):
            line += f"; changes: {self.changes.short()}"
        if self.notes:
            line += "; " + "; ".join(self.notes)
        return self.mask(line)


def read_feed(hubs: Hubs, feed_id: int) -> tuple[FeedConfig, dict[str, Any]]:
    """Fetch a feed configuration from Hub and validate it; ConfigError when invalid."""
    raw = hubs.get_feed(feed_id)
    return validated(raw, feed_id), raw


def validated(raw: Mapping[str, Any], feed_id: int | None = None) -> FeedConfig:
    check = check_feed(raw)
    label = f"feed {feed_id if feed_id is not None else raw.get('id')}"
    for warning in check.warnings:
        log.warning("%s: %s", label, warning)
    if check.feed is None:
        problems = [str(p) for p in check.errors]
        raise ConfigError(f"{label} is invalid: " + "; ".join(problems), problems)
    return check.feed


def file_name(feed: FeedConfig, when: datetime) -> str:
    """The feed's file name at ``when``, checked by the safety rule of SPEC §3."""
    name = feed.method.file_name(feed, when)
    problem = check_filename(name)
    if problem:
        raise ConfigError(f"{feed.label()}: {feed.method.file_name_field()} gives {name!r}, which {problem}")
    return name


def dry_run(
    hub: Hubs | HubClient,
    feed_id: int,
    output: BinaryIO,
    *,
    catalogue: Catalogue | None = None,
    on_page: Callable[[int, int | None], None] | None = None,
) -> RunResult:
    """Render a feed from its organisation's catalogue to ``output``; nothing is sent or recorded."""
    hubs = as_hubs(hub)
    result = RunResult(feed_id, "", "manual")
    feed, _ = read_feed(hubs, feed_id)
    result.feed_name, result.method = feed.name, feed.delivery_method
    generated_at = datetime.now(timezone.utc)
    result.filename = file_name(feed, generated_at)
    catalogue = catalogue or load_catalogue(hubs.for_organisation(feed.organisation).client, on_page=on_page)
    rendered = render_feed(catalogue, feed, output)
    result.rows, result.bytes, result.sha256 = rendered.rows, rendered.bytes, rendered.sha256
    result.notes = catalogue.notes(feed)
    result.status = "rendered"
    result.ended_at = datetime.now(timezone.utc)
    return result


def run_feed(
    settings: Settings,
    hub: Hubs | HubClient,
    ledger: Ledger,
    feed_id: int,
    *,
    trigger: str = "manual",
    force: bool = False,
    raw: dict[str, Any] | None = None,
    catalogue: CatalogueSource = None,
    slot_start: datetime | None = None,
    cancel: threading.Event | None = None,
    on_started: Callable[[int], None] | None = None,
    on_page: Callable[[int, int | None], None] | None = None,
    sleep: Callable[[float], None] | None = None,
    guard: bool = True,
) -> RunResult:
    """Run one feed end to end and record it in the ledger; never raises for the run's own failures.

    ``raw`` is the configuration when the caller already read it (the daemon
    reads all feeds at once); ``catalogue`` a shared catalogue, or a function
    of the feed's credentials that returns it, so that the catalogue is only
    fetched when a feed actually needs it; by default the run reads the
    catalogue of the feed's own organisation's credentials, and a feed whose
    organisation has none fails before anything is fetched or sent (SPEC
    §10). ``cancel`` is an event that cuts the upload off (the daemon's
    shutdown). An inactive feed is refused (UsageError) unless
    ``force``; that refusal is not a run and is not recorded.

    The run has its own secrets scope: the feed's delivery password is masked
    in what this run writes, and only there (``redact.run_scope``).
    """
    hubs = as_hubs(hub)
    if raw is None:
        raw = hubs.get_feed(feed_id)
    with redact.run_scope() as secrets:
        return _run(settings, hubs, ledger, feed_id, HubFeed.read(raw), secrets, trigger=trigger, force=force,
                    catalogue=catalogue, slot_start=slot_start, cancel=cancel, on_started=on_started,
                    on_page=on_page, sleep=sleep, guard=guard)


def _run(
    settings: Settings,
    hubs: Hubs,
    ledger: Ledger,
    feed_id: int,
    seen: HubFeed,
    secrets: redact.Secrets,
    *,
    trigger: str,
    force: bool,
    catalogue: CatalogueSource,
    slot_start: datetime | None,
    cancel: threading.Event | None,
    on_started: Callable[[int], None] | None,
    on_page: Callable[[int, int | None], None] | None,
    sleep: Callable[[float], None] | None,
    guard: bool,
) -> RunResult:
    result = RunResult(feed_id, seen.name, trigger, slot_start=slot_start, method=seen.method or "",
                       organisation=seen.organisation, secrets=secrets)
    if not seen.active and not force:
        raise UsageError(f"feed {feed_id} ({seen.name}) is inactive; use --force to run it anyway")
    run_id = ledger.start_run(feed_id, trigger, organisation=seen.organisation, feed_name=seen.name,
                              method=seen.method, slot_start=slot_start, started_at=result.started_at)
    result.run_id = run_id
    if on_started is not None:
        on_started(run_id)
    spool: Path | None = None
    deadline = settings.delivery.run_deadline_minutes
    watchdog = limits.Watchdog(deadline * 60).__enter__()  # no run lasts longer, whatever a server does
    try:
        feed = validated(seen.raw, feed_id)
        secrets.add(*(getattr(feed, name) for name in SECRET_FIELDS))
        generated_at = datetime.now(timezone.utc)
        result.filename = file_name(feed, generated_at)
        target = target_for(feed, settings)  # refuses an unconfirmed SITC feed before any work
        result.destination = target.describe(result.filename)
        source = hubs.for_organisation(feed.organisation)  # its own prices, never an ancestor's
        if callable(catalogue):
            catalogue = catalogue(source)
        catalogue = catalogue or load_catalogue(source.client, on_page=on_page)
        archive_dir = settings.archive_path
        fd, spool = archive.spool_file(archive_dir)
        with os.fdopen(fd, "wb") as out:
            rendered = render_feed(catalogue, feed, out)
        result.rows, result.bytes, result.sha256 = rendered.rows, rendered.bytes, rendered.sha256
        result.notes = catalogue.notes(feed)
        blocks = columns_of(catalogue.records)  # read once for the snapshot and the comparison
        snapshot = Snapshot.of(catalogue.records, blocks)
        previous = ledger.last_delivered_snapshot(feed_id)
        result.changes = compare(previous, blocks, prices="price" in feed.columns, stock="stock" in feed.columns)
        del blocks
        ledger.update_run(run_id, filename=result.filename, rows=rendered.rows, bytes=rendered.bytes,
                          sha256=rendered.sha256, destination=result.destination, changes=result.changes.to_json())
        ledger.store_snapshot(run_id, feed_id, snapshot)
        held = hold_reason(previous, snapshot, settings.guard) if guard else None
        if held is not None:  # a broken catalogue is held, archived, and sent to nobody (SPEC §12)
            result.status, result.error = "held", f"{held}; release it with: feeds release {run_id}"
            raise _Held
        job = Job(feed, spool, result.filename, rendered.bytes, rendered.sha256, rendered.rows, generated_at, run_id,
                  changes=result.changes)
        shared = feed.method.shared_name(feed)
        if shared is not None:  # a name all organisations write to (SITC): its first organisation owns it
            ledger.claim_shared_name(feed.method.name, shared, feed.organisation, feed_id)
        where = target.describe("")
        context = watchdog.watch(Context(
            timeout=settings.delivery.timeout,
            host_keys=ledger,
            cancel=cancel or threading.Event(),
            leftovers=ledger.leftovers(feed_id, where),  # from a run that was killed mid-upload
            on_leftovers=lambda paths: ledger.set_leftovers(feed_id, where, paths),
            allowed=settings.delivery.allowed_networks,
            deadline_text=f"delivery.run_deadline_minutes ({deadline:g} min)",
        ))

        def attempt_done(attempt: Attempt) -> None:
            result.attempts = attempt.number
            ledger.record_attempt(run_id, attempt.number, attempt.started_at, attempt.ended_at, attempt.error)

        result.destination, result.attempts = deliver(job, target, settings, context, on_attempt=attempt_done,
                                                      sleep=sleep)
        result.status = "delivered"
        ledger.prune_snapshots(feed_id, run_id)
        failpoints.reached("ledger")
    except _Held:
        pass  # the status says so; the file is archived below
    except Cancelled as exc:
        result.status, result.error = "failed", f"cut off: {exc}"
    except FeedsError as exc:
        result.status, result.error = "failed", str(exc)
    except OSError as exc:  # the local disk: the spool or archive folder full or not writable
        result.status, result.error = "failed", f"the file could not be written on this machine: {exc.strerror} ({exc.filename})"
    except Exception as exc:  # a bug must not stop the other feeds: record it
        log.exception("feed %s: unexpected error", feed_id)
        result.status, result.error = "failed", f"unexpected {type(exc).__name__}: {exc}"
    finally:
        watchdog.__exit__()
        result.ended_at = datetime.now(timezone.utc)
        kept: Path | None = None
        if spool is not None and spool.exists():
            try:
                kept = archive.keep(settings.archive_path, feed_id, spool, result.filename or "feed.csv", run_id,
                                    result.started_at, settings.state.archive_keep)
            except OSError as exc:
                log.warning("feed %s: the file could not be archived (%s)", feed_id, exc.strerror)
                spool.unlink(missing_ok=True)
        ledger.update_run(
            run_id, status=result.status, ended_at=result.ended_at, error=result.error,
            destination=result.destination, attempts=result.attempts,
            archive_path=str(kept) if kept else None,
        )
    _log(result)
    return result


def _log(result: RunResult) -> None:
    line = result.summary()
    if result.status == "failed":
        log.error("%s", line)
    elif result.status == "held":
        log.warning("%s", line)
    else:
        log.info("%s", line)


def release(settings: Settings, hub: Hubs | HubClient, ledger: Ledger, run_id: int,
            sleep: Callable[[float], None] | None = None) -> RunResult:
    """``feeds release RUN_ID``: deliver a held file exactly as it was held, and record a delivered run.

    The bytes are the archived ones (their SHA-256 checked against the held
    run's), under the held file name, to where the feed delivers now. The
    held run's slot counts as delivered afterwards, so the daemon does not
    render it again.
    """
    held = ledger.run(run_id)
    if held is None:
        raise UsageError(f"there is no run {run_id} in the ledger; `feeds history` lists the runs")
    if held["status"] != "held":
        raise UsageError(f"run {run_id} is {held['status']}, not held; only a held file can be released")
    path = Path(held["archive_path"] or "")
    if not held["archive_path"] or not path.is_file():
        raise ConfigError(f"run {run_id}'s held file is no longer in the archive ({held['archive_path']}); "
                          f"run the feed again with: feeds run --id {held['feed_id']}")
    data_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    if data_sha != held["sha256"]:
        raise ConfigError(f"run {run_id}'s archived file does not match what was held (SHA-256 differs); "
                          "nothing was sent")
    hubs = as_hubs(hub)
    feed_id = held["feed_id"]
    raw = hubs.get_feed(feed_id)
    with redact.run_scope() as secrets:
        seen = HubFeed.read(raw)
        result = RunResult(feed_id, seen.name, "manual", method=seen.method or "", organisation=seen.organisation,
                           changes=Changes.from_json(held["changes"]), secrets=secrets)
        result.run_id = ledger.start_run(feed_id, "manual", organisation=seen.organisation, feed_name=seen.name,
                                         method=seen.method, started_at=result.started_at)
        result.filename, result.rows, result.bytes, result.sha256 = (held["filename"], held["rows"], held["bytes"],
                                                                     held["sha256"])
        try:
            feed = validated(raw, feed_id)
            secrets.add(*(getattr(feed, name) for name in SECRET_FIELDS))
            target = target_for(feed, settings)
            result.destination = target.describe(result.filename)
            shared = feed.method.shared_name(feed)
            if shared is not None:
                ledger.claim_shared_name(feed.method.name, shared, feed.organisation, feed_id)
            ledger.update_run(result.run_id, filename=result.filename, rows=result.rows, bytes=result.bytes,
                              sha256=result.sha256, destination=result.destination, changes=held["changes"],
                              archive_path=str(path))
            job = Job(feed, path, result.filename, result.bytes, result.sha256, result.rows, result.started_at,
                      result.run_id, changes=result.changes)
            context = Context(timeout=settings.delivery.timeout, host_keys=ledger,
                              allowed=settings.delivery.allowed_networks)

            def attempt_done(attempt: Attempt) -> None:
                result.attempts = attempt.number
                ledger.record_attempt(result.run_id, attempt.number, attempt.started_at, attempt.ended_at,
                                      attempt.error)

            with limits.Watchdog(settings.delivery.run_deadline_minutes * 60) as watchdog:
                watchdog.watch(context)
                result.destination, result.attempts = deliver(job, target, settings, context,
                                                              on_attempt=attempt_done, sleep=sleep)
            result.status = "delivered"
            snapshot = ledger.snapshot_of(run_id)
            if snapshot is not None:
                ledger.store_snapshot(result.run_id, feed_id, snapshot)
                ledger.prune_snapshots(feed_id, result.run_id)
            if held["slot_start"]:
                ledger.settle(feed_id, parse_stamp(held["slot_start"]), "delivered")
        except FeedsError as exc:
            result.status, result.error = "failed", str(exc)
        finally:
            result.ended_at = datetime.now(timezone.utc)
            ledger.update_run(result.run_id, status=result.status, ended_at=result.ended_at, error=result.error,
                              destination=result.destination, attempts=result.attempts)
        _log(result)
    return result
