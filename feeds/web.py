"""The status page (SPEC §13): what went out and what needs someone, served by the daemon on its metrics address.

``/`` lists the feeds of the daemon's last wake, problems first (failed,
held, missed, running, unschedulable), a page of ``PAGE_SIZE`` at a time
(``?page=N``; ``?state=`` and ``?q=`` narrow the list): each with its
organisation, destination (no secret), timeslot, when it runs next (a retry
of a failed slot, or its next due slot), its last run (status, time, rows,
change summary, error) and its latest archived file, below the daemon's own
health (last and next wake) and a timeline of the last 24 hours' 48 slots
with each feed's due slot marked. ``/feeds/<id>`` lists a feed's runs, each
with its archived file to download. Plain HTML from the Jinja2 templates,
autoescaped, no JavaScript.

The page asks the ledger a fixed number of questions whatever the number of
feeds (``status.standings`` for all, the last runs and timeline of one
page), so 10,000 feeds cost what 100 do plus two reads of 10,000 short rows.

Access: loopback only unless ``web.token`` is set; then ``webauth.guarded``
asks for the token (a header, or the sign-in form's cookie).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode

from . import redact, retry
from .archive import Archive
from .changes import Changes
from .config import HubFeed, masked
from .slots import next_wake
from .status import ORDER, PROBLEMS, Standing, Timeline, feed_statuses, problems_first, standings, timeline
from .templating import environment
from .views import destination_of

if TYPE_CHECKING:
    from .ledger import Ledger, RunRow

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
_FEED = re.compile(r"/feeds/(\d+)")
_FILE = re.compile(r"/feeds/(\d+)/runs/(\d+)/file")
#: feeds per page of ``/``: problems fit on the first of them; 100 rows are about 300 KB of HTML
PAGE_SIZE = 100
#: what the page says of each state, and the timeline's symbol for a run that ended so
LABELS = {"failed": "failed", "held": "held", "missed": "missed", "running": "running",
          "unschedulable": "cannot be scheduled", "due": "due now", "delivered": "delivered",
          "waiting": "waiting for its first slot", "inactive": "inactive"}
SYMBOLS = {"delivered": "✓", "failed": "✗", "held": "!", "running": "…"}
#: keys of the daemon's health the page shows in words of its own; any other key is shown as it comes
_HEALTH_KEYS = ("ok", "status", "last_wake", "running", "stopping")


def daemon_health(check: Callable[[], tuple[bool, dict[str, Any]]]) -> Callable[[], dict[str, Any]]:
    """``Daemon.health`` (ok, detail) as the dict the page shows: ``ok`` beside the detail's keys."""
    def health() -> dict[str, Any]:
        ok, detail = check()
        return {"ok": ok, **detail}

    return health


def _when(text: str | None) -> str:
    return (text or "")[:16].replace("T", " ")


def _moment(when: datetime, now: datetime) -> str:
    """A time to come or past as a person reads it: ``14:30 UTC``, ``tomorrow 14:30 UTC``, ``2026-11-29 14:30 UTC``."""
    day = (when.date() - now.date()).days
    prefix = {0: "", 1: "tomorrow ", -1: "yesterday "}.get(day, when.strftime("%Y-%m-%d "))
    return f"{prefix}{when.strftime('%H:%M')} UTC"


def _timeslot(minutes: int | None) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}" if minutes is not None else "unusable"


def _destination(feed: HubFeed) -> str:
    """Where the feed's file goes, as its method says it, with the feed's own secrets masked should one appear."""
    text = destination_of(feed)
    shown = masked(feed.raw)
    for key, value in feed.raw.items():
        if shown.get(key) == redact.MASK and isinstance(value, str) and value:
            text = text.replace(value, redact.MASK)
    return redact.redact(text)


def next_run_text(standing: Standing, now: datetime) -> str:
    """When the daemon runs the feed next, and why then (SPEC §5)."""
    state, at = standing.state, standing.next_run
    if state == "inactive":
        return "not scheduled (inactive)"
    if state == "unschedulable":
        return "not scheduled: no usable timeslot" if standing.feed.id is not None else "not scheduled: no usable id"
    if state == "due":
        return "due now"
    assert at is not None
    if standing.retry and state == "missed":
        return f"will be caught up at {_moment(at, now)}"
    if standing.retry:
        return f"will retry at {_moment(at, now)} (run {standing.tries + 1} of {retry.RUNS_PER_SLOT} for its slot)"
    if state in ("failed", "held"):
        return f"no more tries for this slot; next due {_moment(at, now)}"
    return f"next due {_moment(at, now)}"


def _cells(standing: Standing, outcomes: list[dict[str, Any] | None], line: Timeline) -> list[tuple[str, str, str]]:
    """The feed's 48 timeline cells as (class, title, symbol); its due slot marked, a missed one unlike a not-due one."""
    cells = []
    for slot, cell in zip(line.slots, outcomes):
        due = standing.slot == slot and standing.state not in ("inactive", "unschedulable")
        when = f"{slot.strftime('%H:%M')} UTC{', its due slot' if due else ''}"
        if cell is not None:
            rows = f", {cell['rows']} rows" if cell["rows"] is not None else ""
            error = f": {cell['error']}" if cell["error"] else ""
            status = cell["status"]
            cells.append((f"{status}{' due' if due else ''}", f"{when}: {status} ({cell['trigger']}){rows}{error}",
                          SYMBOLS.get(status, "?")))
        elif due and standing.state == "missed":
            cells.append(("missed due", f"{when}: missed, no run", "○"))
        elif due and standing.state == "due":
            cells.append(("none due", f"{when}: due now", "·"))
        else:
            cells.append((f"none{' due' if due else ''}", f"{when}: {'not owed yet' if due else 'not due'}, no run", ""))
    return cells


class StatusPages:
    """The WSGI application of ``/`` and ``/feeds/<id>`` (with file downloads)."""

    def __init__(self, ledger: Ledger, feeds: Callable[[], list[HubFeed]], archive: Archive,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 health: Callable[[], dict[str, Any]] | None = None, page_size: int = PAGE_SIZE):
        self.ledger = ledger
        self.feeds = feeds
        self.archive = archive
        self.clock = clock
        self.health = health
        self.page_size = page_size

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        session = {"signout": environ.get("feeds.signout")}  # the sign-out form's CSRF value, when signed in
        if path == "/":
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            return self._html(start_response, "status.html.j2", {**self._index(query), **session})
        match = _FILE.fullmatch(path)
        if match:
            return self._file(start_response, int(match.group(1)), int(match.group(2)))
        match = _FEED.fullmatch(path)
        if match:
            values = self._feed(int(match.group(1)))
            if values is not None:
                return self._html(start_response, "feed.html.j2", {**values, **session})
        return self._text(start_response, "404 Not Found", f"no page at {path}\n")

    # --- pages -----------------------------------------------------------------------

    def _index(self, query: dict[str, str]) -> dict[str, Any]:
        now = self.clock()
        found = problems_first(standings(self.feeds(), self.ledger, now))
        counts = Counter(standing.state for standing in found)
        state, text = query.get("state", ""), query.get("q", "").strip()[:100]
        shown = [s for s in found if _wanted(s, state, text)]
        pages = max(1, math.ceil(len(shown) / self.page_size))
        page = min(max(_number(query.get("page")), 1), pages)
        chunk = shown[(page - 1) * self.page_size:page * self.page_size]
        ids = [s.feed.id for s in chunk if s.feed.id is not None]
        last, files = self.ledger.runs.last_of(ids), self.ledger.runs.last_of(ids, archived=True)
        line = timeline([s.feed for s in chunk], self.ledger, now)
        rows = [self._row(s, last.get(s.feed.id), files.get(s.feed.id), line, now) for s in chunk]  # type: ignore[arg-type]

        def link(number: int) -> str:
            return "/?" + urlencode({k: v for k, v in (("state", state), ("q", text), ("page", number)) if v})

        return {"now": now.strftime("%Y-%m-%d %H:%M UTC"), "total": len(found), "rows": rows, "slots": line.slots,
                "counts": [(s, LABELS[s], counts[s], s in PROBLEMS) for s in ORDER if counts[s]],
                "problems": sum(counts[s] for s in PROBLEMS), "state": state, "q": text, "matched": len(shown),
                "page": page, "pages": pages, "first": (page - 1) * self.page_size + 1 if chunk else 0,
                "link": link, "daemon": self._daemon(now)}

    def _row(self, standing: Standing, last: RunRow | None, archived: RunRow | None, line: Timeline,
             now: datetime) -> dict[str, Any]:
        feed = standing.feed
        run = None
        if last is not None:
            shown = last.changes and last.status in ("delivered", "held")
            run = {"status": last.status, "ended": _when(last.ended_at or last.started_at), "rows": last.rows,
                   "trigger": last.trigger, "error": last.error or "", "worker": last.worker or "",
                   "summary": Changes.from_json(last.changes).short() if shown else ""}  # type: ignore[union-attr]
        file = None
        if archived is not None and self._archived(archived) is not None:
            file = {"href": f"/feeds/{feed.id}/runs/{archived.run_id}/file", "name": archived.filename or "feed.csv",
                    "when": _when(archived.ended_at or archived.started_at), "sent": archived.status == "delivered"}
        return {"id": feed.id, "name": feed.name, "organisation": feed.organisation, "method": feed.method or "",
                "destination": _destination(feed), "active": feed.active, "timeslot": _timeslot(feed.timeslot),
                "state": standing.state, "label": LABELS[standing.state], "problem": standing.problem,
                "next": next_run_text(standing, now), "retry": standing.retry, "run": run, "file": file,
                "cells": _cells(standing, line.outcomes.get(feed.id, []), line) if feed.id is not None else []}

    def _daemon(self, now: datetime) -> dict[str, Any] | None:
        """The daemon's own health: last and next wake, runs in progress, and whatever else it tells."""
        if self.health is None:
            return None
        detail = dict(self.health())
        last = _instant(detail.get("last_wake"))
        late = last is None or now - last > timedelta(minutes=35)
        extra = [(key.replace("_", " "), _plain(value)) for key, value in detail.items() if key not in _HEALTH_KEYS]
        return {"ok": detail.get("ok", not late), "stopping": bool(detail.get("stopping")),
                "last_wake": f"{_moment(last, now)} ({_ago(now - last)})" if last else "not yet",
                "late": late, "next_wake": _moment(next_wake(now), now), "running": detail.get("running"),
                "extra": extra}

    def _feed(self, feed_id: int) -> dict[str, Any] | None:
        feed = next((f for f in self.feeds() if f.id == feed_id), None)
        rows = self.ledger.runs.history(feed_id=feed_id, limit=200)
        if feed is None and not rows:
            return None
        runs = []
        for row in rows:
            run = row.to_json()
            shown = run["changes"] and run["status"] in ("delivered", "held")
            run["summary"] = Changes.from_json(run["changes"]).short() if shown else ""
            run["started"] = _when(run["started_at"])
            run["slot"] = _when(run["slot_start"])
            run["downloadable"] = self._archived(row) is not None
            runs.append(run)
        name = feed.name if feed is not None else (runs[0]["feed_name"] or "")
        now = self.clock()
        about = None
        if feed is not None:
            standing = standings([feed], self.ledger, now)[0]
            about = {**feed_statuses([feed], self.ledger, now)[0], "destination": _destination(feed),
                     "label": LABELS[standing.state], "state": standing.state, "next": next_run_text(standing, now)}
        return {"now": now.strftime("%Y-%m-%d %H:%M UTC"), "feed_id": feed_id, "name": name, "feed": about,
                "runs": runs}

    def _archived(self, run: RunRow) -> Path | None:
        if not run.archive_path or not self.archive.holds(Path(run.archive_path)):
            return None
        return Path(run.archive_path)

    def _file(self, start_response: Any, feed_id: int, run_id: int) -> Iterable[bytes]:
        run = self.ledger.runs.get(run_id)
        path = self._archived(run) if run is not None and run.feed_id == feed_id else None
        if run is None or path is None:
            return self._text(start_response, "404 Not Found", f"run {run_id} of feed {feed_id} has no archived file\n")
        data = path.read_bytes()
        name = (run.filename or "feed.csv").replace('"', "")
        start_response("200 OK", [("Content-Type", "text/csv; charset=utf-8"), ("Content-Length", str(len(data))),
                                  ("Content-Disposition", f"attachment; filename*=UTF-8''{_quote(name)}")])
        return [data]

    # --- answers ----------------------------------------------------------------------

    @staticmethod
    def _html(start_response: Any, template: str, values: dict[str, Any]) -> list[bytes]:
        body = environment().get_template(template).render(values).encode("utf-8")
        start_response("200 OK", html_headers(len(body)))
        return [body]

    @staticmethod
    def _text(start_response: Any, status: str, text: str) -> list[bytes]:
        body = text.encode("utf-8")
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]


def html_headers(length: int) -> list[tuple[str, str]]:
    """An HTML page's headers: no script, no frame, forms only to this server."""
    return [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(length)),
            ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                        "frame-ancestors 'none'; base-uri 'none'"),
            ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]


def _wanted(standing: Standing, state: str, text: str) -> bool:
    """Whether a feed is in the list asked for: a state (``problems``: any of them) and text in its id, name or org."""
    if (state == "problems" and not standing.problem) or (state in ORDER and standing.state != state):
        return False
    if not text:
        return True
    feed = standing.feed
    return text.casefold() in feed.name.casefold() or text in (str(feed.id), f"org {feed.organisation}")


def _number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and len(text) < 9 else 1


def _instant(text: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None
    return when.astimezone(timezone.utc) if when and when.tzinfo else when


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return "just now" if minutes < 1 else f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago"


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def _quote(name: str) -> str:
    return quote(name, safe="")
