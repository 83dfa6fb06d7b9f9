"""What the commands print for people: tables and progress (rich), secrets masked."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import redact
from .changes import Changes
from .config import HubFeed
from .deliver import METHODS


def _console() -> Any:
    from rich.console import Console  # lazy, as every rich import here: commands that print no table skip rich

    # Piped output keeps whole values rather than folding them at 80 columns.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _table(*columns: str, **options: Any) -> Any:
    from rich.table import Table

    return Table(*columns, **options)


def timeslot_text(minutes: Any) -> str:
    if isinstance(minutes, int) and not isinstance(minutes, bool) and 0 <= minutes < 1440:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    return str(minutes)


def destination_of(feed: HubFeed) -> str:
    method = METHODS.get(feed.method or "")
    return method.destination(feed.raw) if method is not None else ""


def _clean(value: Any) -> Any:
    """A value from a configuration, Hub or a server, as plain text: never rich markup or a link (SPEC §11)."""
    from rich.text import Text

    return Text(redact.redact("" if value is None else str(value)))


def yes_no(value: bool) -> str:
    """A yes-or-no value as every view prints it (``active``, ``show_headers``, ...)."""
    return "yes" if value else "no"


def feeds_table(feeds: list[dict[str, Any]]) -> None:
    # Hub's own last_upload field, labelled as Hub's: what feeds delivered is the ledger's (`feeds status`)
    table = _table("id", "org", "name", "active", "slot (UTC)", "method", "destination", "last_upload (Hub)")
    for raw in feeds:
        feed = HubFeed.read(raw)
        table.add_row(
            _clean(raw.get("id")),
            _clean(raw.get("organisation")),
            _clean(raw.get("name")),
            yes_no(feed.active),
            _clean(timeslot_text(raw.get("timeslot"))),
            _clean(raw.get("delivery_method")),
            _clean(destination_of(feed)),
            _clean(raw.get("last_upload")),
        )
    console = _console()
    console.print(table)
    console.print(f"{len(feeds)} feed{'s' if len(feeds) != 1 else ''}")


def feed_details(feed: dict[str, Any]) -> None:
    table = _table("field", "value", show_header=False, box=None)
    for key, value in feed.items():
        if key == "timeslot":
            value = f"{value} ({timeslot_text(value)} UTC)"
        elif key == "active":
            value = yes_no(HubFeed.read(feed).active)  # null means the default, as in `feeds list`
        elif key == "last_upload":
            key = "last_upload (Hub)"  # Hub's own field, not a run of feeds (those are in the ledger)
        elif isinstance(value, bool):
            value = yes_no(value)
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        table.add_row(_clean(key), _clean(value))
    _console().print(table)


def history_table(runs: list[dict[str, Any]], feed_id: int | None = None) -> None:
    """The runs as a table; with none, one sentence (``feed_id``: the feed asked for), not an empty table."""
    if not runs:
        _console().print(no_runs(feed_id))
        return
    table = _table("run", "feed", "slot (UTC)", "trigger", "started", "status", "rows", "bytes", "attempts", "destination / error")
    for run in runs:
        detail = run.get("error") if run.get("status") in ("failed", "held") else run.get("destination")
        changes = Changes.from_json(run.get("changes"))
        if changes is not None and run.get("status") in ("delivered", "held"):
            detail = f"{detail} ({changes.short()})"
        table.add_row(
            _clean(run.get("run_id")),
            _clean(run.get("feed_id")),
            _clean((run.get("slot_start") or "")[:16].replace("T", " ")),
            _clean(run.get("trigger")),
            _clean((run.get("started_at") or "")[:19].replace("T", " ")),
            _clean(run.get("status")),
            _clean(run.get("rows")),
            _clean(run.get("bytes")),
            _clean(run.get("attempts")),
            _clean(detail),
        )
    _console().print(table)


def no_runs(feed_id: int | None) -> str:
    """What ``feeds history`` says when the ledger has no run to show."""
    if feed_id is None:
        return "no runs recorded yet"
    return (f"no runs of feed {feed_id} in the ledger; `feeds list` shows the feeds on Hub, `feeds history` "
            "the runs of every feed")


def status_table(statuses: list[dict[str, Any]]) -> None:
    table = _table("id", "org", "name", "method", "active", "slot (UTC)", "next due (UTC)", "last run", "ended",
                   "daemon", "rows", "changes / error")
    for feed in statuses:
        last = feed["last_run"] or {}
        changes = Changes.from_json(last.get("changes"))
        detail = last.get("error") if last.get("status") in ("failed", "held") else (changes.short() if changes else "")
        table.add_row(
            _clean(feed["id"]), _clean(feed["organisation"]), _clean(feed["name"]), _clean(feed["method"]),
            yes_no(feed["active"]), _clean(timeslot_text(feed["timeslot"])),
            _clean((feed["next_due"] or "")[:16].replace("T", " ")), _clean(last.get("status") or "never run"),
            _clean((last.get("ended_at") or "")[:16].replace("T", " ")), _clean(last.get("worker")),
            _clean(last.get("rows")), _clean(detail),
        )
    console = _console()
    console.print(table)
    console.print(f"{len(statuses)} feed{'s' if len(statuses) != 1 else ''}")


@contextmanager
def progress() -> Iterator[Callable[[int, int | None], None]]:
    """A page-reading progress bar on stderr when it is a terminal; else nothing."""
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("reading the catalogue"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    )
    task = bar.add_task("pages", total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)
