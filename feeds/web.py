"""The status page (SPEC §13): what went out, at a glance, served by the daemon on its metrics address.

``/`` lists every feed of the daemon's last wake (organisation, name, method,
active, timeslot, next due time, last run with its change summary and error)
above a timeline of the last 24 hours' 48 slots; ``/feeds/<id>`` lists a
feed's runs, each with its archived file to download. Plain HTML from the
Jinja2 templates, autoescaped, readable without JavaScript.

Access: loopback only unless ``web.token`` is set; with it, every path but
``/healthz`` needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import SecretStr

from .archive import Archive
from .changes import Changes
from .config import HubFeed
from .egress import is_loopback
from .errors import UsageError
from .sections import Section
from .status import feed_statuses, timeline
from .templating import environment

if TYPE_CHECKING:
    from .ledger import Ledger, RunRow

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
_FEED = re.compile(r"/feeds/(\d+)")
_FILE = re.compile(r"/feeds/(\d+)/runs/(\d+)/file")


class WebSettings(Section):
    """``[web]``: who may read the status page."""

    token: SecretStr = SecretStr("")  #: better: FEEDS_WEB_TOKEN


def check_binding(host: str, web: WebSettings) -> None:
    """Serving beyond loopback needs ``web.token`` (SPEC §13): refused at start otherwise (exit 2)."""
    if not is_loopback(host) and not web.token.get_secret_value():
        raise UsageError(f"--metrics-host {host} is beyond loopback and web.token is not set; the status page shows "
                         "every organisation's feeds and files: set web.token (better FEEDS_WEB_TOKEN) or serve on "
                         "127.0.0.1")


def guarded(app: WSGIApp, web: WebSettings) -> WSGIApp:
    """Every path but ``/healthz`` needs the bearer token, when one is set."""
    token = web.token.get_secret_value()

    def check(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if token and environ.get("PATH_INFO") != "/healthz":
            scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
            if scheme != "Bearer" or not secrets.compare_digest(given.encode(), token.encode()):
                body = b"a bearer token is needed (Authorization: Bearer <web.token>)\n"
                start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                    ("WWW-Authenticate", 'Bearer realm="feeds"'),
                                                    ("Content-Length", str(len(body)))])
                return [body]
        return app(environ, start_response)

    return check


def _when(text: str | None) -> str:
    return (text or "")[:16].replace("T", " ")


class StatusPages:
    """The WSGI application of ``/`` and ``/feeds/<id>`` (with file downloads)."""

    def __init__(self, ledger: Ledger, feeds: Callable[[], list[HubFeed]], archive: Archive,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.ledger = ledger
        self.feeds = feeds
        self.archive = archive
        self.clock = clock

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/":
            return self._html(start_response, "status.html.j2", self._index())
        match = _FILE.fullmatch(path)
        if match:
            return self._file(start_response, int(match.group(1)), int(match.group(2)))
        match = _FEED.fullmatch(path)
        if match:
            values = self._feed(int(match.group(1)))
            if values is not None:
                return self._html(start_response, "feed.html.j2", values)
        return self._text(start_response, "404 Not Found", f"no page at {path}\n")

    # --- pages -----------------------------------------------------------------------

    def _index(self) -> dict[str, Any]:
        now = self.clock()
        feeds = self.feeds()
        statuses = feed_statuses(feeds, self.ledger, now)
        for status in statuses:
            last = status["last_run"]
            shown = last and last["changes"] and last["status"] in ("delivered", "held")
            status["summary"] = Changes.from_json(last["changes"]).short() if shown else ""
            status["ended"] = _when(last["ended_at"]) if last else ""
        line = timeline(feeds, self.ledger, now)
        counts: dict[str, int] = {}
        for row in line.outcomes.values():
            for cell in row:
                if cell is not None:
                    counts[cell["status"]] = counts.get(cell["status"], 0) + 1
        return {"now": now.strftime("%Y-%m-%d %H:%M UTC"), "feeds": statuses, "slots": line.slots,
                "outcomes": line.outcomes, "counts": counts, "names": {f.id: f.name for f in feeds}}

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
        return {"now": self.clock().strftime("%Y-%m-%d %H:%M UTC"), "feed_id": feed_id, "name": name,
                "feed": feed_statuses([feed], self.ledger, self.clock())[0] if feed is not None else None,
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
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                                  ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")])
        return [body]

    @staticmethod
    def _text(start_response: Any, status: str, text: str) -> list[bytes]:
        body = text.encode("utf-8")
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]


def _quote(name: str) -> str:
    return quote(name, safe="")
