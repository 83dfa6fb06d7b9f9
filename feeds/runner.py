"""One feed run, end to end, and the release of a held one.

configuration (from Hub) -> validation -> catalogue -> file -> guard ->
delivery -> ledger entry and archive. Every step that can refuse does so
before anything is sent: an invalid configuration or an unsafe file name
fails the run with the validator's message, and no byte leaves the machine.

A run and a release are recorded and delivered by the same code (``_Run``):
one deadline over the whole run, one way to be cancelled, one record of the
leftovers an upload may leave, one mapping of errors to a failed run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from . import bounded, failpoints, redact
from .archive import Archive, ArchiveError
from .catalog import Catalogue, load_catalogue
from .changes import ROW_DROP_WINDOW, Changes, Columns, GuardSettings, Snapshot, columns_of, compare, hold_reason
from .config import SECRET_FIELDS, FeedConfig, HubFeed, validated
from .deliver import Attempt, Deliveries, Job, Target, limits
from .errors import Cancelled, ConfigError, FeedsError, Unconfirmed, UsageError
from .filenames import check_filename
from .hub import Credentials, HubClient, Hubs, as_hubs
from .render import render_feed

if TYPE_CHECKING:
    from .ledger import Ledger
    from .record import Record


class _Held(Exception):
    """The guard held the file: the run ends here, archived and recorded, with nothing sent."""


#: the catalogue of a run: one given, or a function of the feed's credentials that returns it
CatalogueSource = Catalogue | Callable[[Credentials], Catalogue] | None

log = logging.getLogger("feeds.run")


@dataclass(frozen=True)
class RunEnvironment:
    """What a run needs from the settings: the deliveries, the guard, the archive. Built once, at the top."""

    deliveries: Deliveries
    guard: GuardSettings
    archive: Archive


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
    #: the file may have landed, and whether it did cannot be told: not sent again (``errors.Unconfirmed``)
    unconfirmed: bool = False
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
            line = (
                f"{who}: {self.status} {self.rows} rows, {self.bytes} bytes"
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
    raw: dict[str, Any] | None = None,
) -> RunResult:
    """Render a feed from its organisation's catalogue to ``output``; nothing is sent or recorded. ``raw``: its
    configuration, when the caller has read it already."""
    hubs = as_hubs(hub)
    result = RunResult(feed_id, "", "manual")
    feed = validated(raw, feed_id) if raw is not None else read_feed(hubs, feed_id)[0]
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


class _Run:
    """One run's record and delivery, from its first ledger row to its last: shared by a run and a release.

    The deadline (``delivery.run_deadline_minutes``, ``run_deadline``)
    starts with the run and covers all of it: Hub's requests honour it as the
    chain's bound (``bounded.within``), the deliveries' connections are cut
    by the watchdog; ``recorded`` turns whatever ends the run into its status
    and error, archives the file and writes the run's last row; ``deliver``
    is the one way a file is sent.
    """

    def __init__(self, env: RunEnvironment, ledger: Ledger, result: RunResult,
                 cancel: threading.Event | None, sleep: Callable[[float], None] | None, deadline: bounded.Bound,
                 worker: str | None = None):
        self.env, self.ledger, self.result = env, ledger, result
        self.cancel = cancel or threading.Event()
        self.sleep = sleep
        self.worker = worker
        self.watchdog = limits.Watchdog(max(0.0, deadline.left()))  # Hub's requests honour ``deadline`` itself
        self.spool: Path | None = None  #: a file rendered by this run, archived when it ends
        self.archived: Path | None = None  #: the file the run's ledger row links to

    def start(self, on_started: Callable[[int], None] | None = None) -> None:
        result = self.result
        result.run_id = self.ledger.runs.start(
            result.feed_id or 0, result.trigger, organisation=result.organisation, feed_name=result.feed_name,
            method=result.method or None, slot_start=result.slot_start, started_at=result.started_at,
            worker=self.worker)
        if on_started is not None:
            on_started(result.run_id)

    @contextmanager
    def recorded(self) -> Iterator[None]:
        """The run's body: whatever ends it is its status; its file is archived and its last row written."""
        result = self.result
        self.watchdog.__enter__()  # no run lasts longer, whatever a server does
        try:
            yield
        except _Held:
            pass  # the status says so; the file is archived below
        except Cancelled as exc:
            result.status, result.error = "failed", f"cut off: {exc}"
        except Unconfirmed as exc:
            result.status, result.error, result.unconfirmed = "failed", str(exc), True
        except FeedsError as exc:
            result.status, result.error = "failed", str(exc)
        except OSError as exc:  # the local disk: the spool or archive folder full or not writable
            result.status, result.error = "failed", (f"the file could not be written on this machine: "
                                                     f"{exc.strerror} ({exc.filename})")
        except Exception as exc:  # a bug must not stop the other feeds: record it
            log.exception("feed %s: unexpected error", result.feed_id)
            result.status, result.error = "failed", f"unexpected {type(exc).__name__}: {exc}"
        finally:
            self.watchdog.__exit__()
            result.ended_at = datetime.now(timezone.utc)
            self._archive()
            self.ledger.runs.update(
                result.run_id, status=result.status, ended_at=result.ended_at, error=result.error,
                destination=result.destination, attempts=result.attempts,
                archive_path=str(self.archived) if self.archived else None,
            )
        _log(result)

    def _archive(self) -> ArchiveError | None:
        """Move the run's complete file into the archive; when that fails nothing is linked, and the run says so."""
        spool, result = self.spool, self.result
        if spool is None or not spool.exists():
            return None
        try:
            self.archived = self.env.archive.keep(result.feed_id or 0, spool, result.filename or "feed.csv",
                                                  result.run_id or 0, result.started_at)
        except ArchiveError as exc:
            log.warning("feed %s: %s", result.feed_id, exc)
            result.notes.append(str(exc))
            return exc
        return None

    def deliver(self, feed: FeedConfig, job: Job, target: Target) -> None:
        """Send ``job`` to ``target``: its shared name claimed, leftovers tracked, every attempt recorded."""
        result, ledger = self.result, self.ledger
        shared = feed.method.shared_name(feed)
        if shared is not None:  # a name all organisations write to: its first organisation owns it
            owner = ledger.names.take(feed.method.name, shared, feed.organisation, result.feed_id or 0)
            if owner is not None:
                raise ConfigError(
                    f"the {feed.method.name} file name {shared!r} belongs to organisation {owner.organisation} "
                    f"(its feed {owner.feed_id} first delivered it, {owner.claimed_at[:10]}); another "
                    f"organisation's feed may not replace that file: choose another {feed.method.file_name_field()}")
        where = target.describe("")
        feed_id = result.feed_id or 0
        run_id = result.run_id or 0
        context = self.watchdog.watch(self.env.deliveries.context(
            host_keys=ledger.host_keys,
            cancel=self.cancel,
            leftovers=ledger.leftovers.get(feed_id, where),  # from a run that was killed mid-upload
            on_leftovers=lambda paths: ledger.leftovers.set(feed_id, where, paths),
            on_publishing=lambda marker: ledger.runs.update(run_id, publishing=marker),
        ))

        def attempt_done(attempt: Attempt) -> None:
            result.attempts = attempt.number
            ledger.runs.record_attempt(result.run_id or 0, attempt.number, attempt.started_at, attempt.ended_at,
                                       attempt.error)

        result.destination, result.attempts = self.env.deliveries.send(job, target, context, on_attempt=attempt_done,
                                                                       sleep=self.sleep)
        result.status = "delivered"


def run_deadline(env: RunEnvironment) -> bounded.Bound:
    """A run's deadline from now: ``delivery.run_deadline_minutes``, whatever Hub or a server does."""
    settings = env.deliveries.settings
    return bounded.Bound.after(settings.deadline_seconds, f"the run passed {settings.deadline_text}")


def run_feed(
    env: RunEnvironment,
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
    worker: str | None = None,
) -> RunResult:
    """Run one feed end to end and record it in the ledger; never raises for the run's own failures.

    ``raw`` is the configuration when the caller already read it (the daemon
    reads all feeds at once); ``catalogue`` a shared catalogue, or a function
    of the feed's credentials that returns it, so that the catalogue is only
    fetched when a feed actually needs it; by default the run reads the
    catalogue of the feed's own organisation's credentials, and a feed whose
    organisation has none fails before anything is fetched or sent (SPEC
    §10). ``cancel`` is an event that cuts the upload off (the daemon's
    shutdown). An inactive feed is refused (UsageError) unless ``force``;
    that refusal is not a run and is not recorded.

    The run has its own secrets scope: the feed's delivery password is masked
    in what this run writes, and only there (``redact.run_scope``).

    The run's deadline starts here: reading the configuration, the token and
    the catalogue count against it (SPEC §11), in every thread that reads.
    """
    deadline = run_deadline(env)
    with bounded.within(deadline):
        return _run_feed(env, as_hubs(hub), ledger, feed_id, deadline, trigger=trigger, force=force, raw=raw,
                         catalogue=catalogue, slot_start=slot_start, cancel=cancel, on_started=on_started,
                         on_page=on_page, sleep=sleep, guard=guard, worker=worker)


def _run_feed(env: RunEnvironment, hubs: Hubs, ledger: Ledger, feed_id: int, deadline: bounded.Bound, *,
              trigger: str, force: bool, raw: dict[str, Any] | None, catalogue: CatalogueSource,
              slot_start: datetime | None, cancel: threading.Event | None,
              on_started: Callable[[int], None] | None, on_page: Callable[[int, int | None], None] | None,
              sleep: Callable[[float], None] | None, guard: bool, worker: str | None) -> RunResult:
    if raw is None:
        raw = hubs.get_feed(feed_id)
    seen = HubFeed.read(raw)
    if not seen.active and not force:
        raise UsageError(f"feed {feed_id} ({seen.name}) is inactive; use --force to run it anyway")
    with redact.run_scope() as secrets:
        result = RunResult(feed_id, seen.name, trigger, slot_start=slot_start, method=seen.method or "",
                           organisation=seen.organisation, secrets=secrets)
        run = _Run(env, ledger, result, cancel, sleep, deadline, worker)
        run.start(on_started)
        with run.recorded():
            feed = validated(seen.raw, feed_id)
            secrets.add(*(getattr(feed, name) for name in SECRET_FIELDS))
            generated_at = datetime.now(timezone.utc)
            result.filename = file_name(feed, generated_at)
            target = env.deliveries.target(feed)  # refuses an unconfirmed SITC feed before any work
            result.destination = target.describe(result.filename)
            env.deliveries.prepare_meanwhile(target)
            source = hubs.for_organisation(feed.organisation)  # its own prices, never an ancestor's
            if callable(catalogue):
                catalogue = catalogue(source)
            catalogue = catalogue or load_catalogue(source.client, on_page=on_page)
            job = _render(run, feed, catalogue, generated_at, guard)
            run.deliver(feed, job, target)
            ledger.snapshots.prune(feed_id, result.run_id or 0)
            failpoints.reached("ledger")
    return result


def _render(run: _Run, feed: FeedConfig, catalogue: Catalogue, generated_at: datetime, guard: bool) -> Job:
    """Render the file into the spool, compare it with the last delivery, and hold it if it looks broken."""
    result, ledger = run.result, run.ledger
    with run.env.archive.spooled() as (out, spool):
        rendered = render_feed(catalogue, feed, out)
    run.spool = spool  # complete: archived when the run ends (a file cut short by a full disk never is)
    result.rows, result.bytes, result.sha256 = rendered.rows, rendered.bytes, rendered.sha256
    result.notes = catalogue.notes(feed)
    # read once for the snapshot and the comparison, and once for every feed of the catalogue
    blocks, snapshot = catalogue.once("snapshot", lambda: _snapshot(catalogue.records))
    previous = ledger.snapshots.last_delivered(result.feed_id or 0)
    result.changes = compare(previous, blocks, prices="price" in feed.columns, stock="stock" in feed.columns)
    ledger.runs.update(result.run_id or 0, filename=result.filename, rows=rendered.rows, bytes=rendered.bytes,
                       sha256=rendered.sha256, destination=result.destination, changes=result.changes.to_json())
    ledger.snapshots.store(result.run_id or 0, result.feed_id or 0, snapshot)
    held = None
    if guard and run.env.guard.enabled and previous is not None:
        largest = ledger.runs.largest_recent(result.feed_id or 0, ROW_DROP_WINDOW)
        held = hold_reason(previous, snapshot, run.env.guard, result.changes, largest_recent=largest)
    if held is not None:  # a broken catalogue is held, archived, and sent to nobody (SPEC §12)
        unarchived = run._archive()  # now: the release is only offered for a file the archive holds
        if run.archived is not None:
            then = f"release it with: feeds release {result.run_id}"
        elif unarchived is not None:
            then = f"{unarchived.fact}, so it cannot be released: free space there and run the feed again"
        else:
            then = "state.archive_keep is 0, so the file is not kept and cannot be released"
        result.status, result.error = "held", f"{held}; {then}"
        raise _Held
    return Job(feed, run.spool, result.filename, rendered.bytes, rendered.sha256, rendered.rows, generated_at,
               result.run_id, changes=result.changes)


def _snapshot(records: list[Record]) -> tuple[list[Columns], Snapshot]:
    blocks = columns_of(records)
    return blocks, Snapshot.of(records, blocks)


def _log(result: RunResult) -> None:
    line = result.summary()
    if result.status == "failed":
        log.error("%s", line)
    elif result.status == "held":
        log.warning("%s", line)
    else:
        log.info("%s", line)


def settle_interrupted(env: RunEnvironment, ledger: Ledger, raw: dict[str, Any], run_id: int) -> str:
    """A run whose process stopped before it finished: "delivered" when its file had been made visible,
    "unconfirmed" when that cannot be told (not sent again), else "failed". Asked by whoever takes its claim
    over, before anything is sent again (SPEC §14)."""
    previous = ledger.runs.get(run_id)
    if previous is None:
        return "failed"
    abandoned = "abandoned: the process running it stopped before it finished"
    if previous.publishing is None or previous.status == "delivered":
        ledger.runs.fail([run_id], abandoned)
        return previous.status if previous.status == "delivered" else "failed"
    with redact.run_scope() as secrets:
        try:
            feed = validated(raw, previous.feed_id)
            secrets.add(*(getattr(feed, name) for name in SECRET_FIELDS))
            target = env.deliveries.target(feed)
            where = target.describe("")
            context = env.deliveries.context(host_keys=ledger.host_keys, publishing=previous.publishing,
                                             leftovers=ledger.leftovers.get(previous.feed_id, where))
            landed = env.deliveries.landed(target, context)
        except Unconfirmed as exc:
            ledger.runs.fail([run_id], f"{abandoned}; {exc}")
            return "unconfirmed"
        except FeedsError as exc:
            ledger.runs.fail([run_id], f"{abandoned}; whether its file was made visible could not be told: {exc}")
            raise
    if not landed:
        ledger.runs.fail([run_id], f"{abandoned} (its file was not made visible)")
        return "failed"
    ledger.runs.update(run_id, status="delivered", ended_at=datetime.now(timezone.utc), publishing=None,
                       error=None)
    ledger.snapshots.prune(previous.feed_id, run_id)
    log.warning("feed %s: run %s had made its file visible when its process stopped; it counts as delivered and "
                "is not sent again", previous.feed_id, run_id)
    return "delivered"
