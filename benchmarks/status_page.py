"""The status page at scale (SPEC §13): 10,000 feeds and a year of runs; ``/`` under 1 s and 2 MB.

    python benchmarks/status_page.py [--feeds 10000] [--days 365] [--ledger PATH] [--repeat 5]

Builds the ledger with ``status_ledger.py`` (about a minute for a year of
10,000 feeds; kept at ``--ledger PATH`` and reused when it exists), serves
the pages as ``feeds daemon`` does (waitress, ``StatusPages`` over the
ledger, the token guard, the feed list in memory as after a wake), then
asks for ``/`` (page 1: the problems first), a later page, a filter and a
feed's own page, each once (the first request) then ``--repeat`` times, and
prints a table: bytes, the first request's seconds, the median wall seconds
a client waited, the median CPU seconds of the serving thread, and whether
``/`` met its targets.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from status_ledger import NOW, build, feeds_of  # noqa: E402

from feeds.archive import Archive  # noqa: E402
from feeds.config import HubFeed  # noqa: E402
from feeds.ledger import Ledger  # noqa: E402
from feeds.metrics import Metrics, serve  # noqa: E402
from feeds.web import StatusPages, WebSettings  # noqa: E402
from feeds.webauth import guarded  # noqa: E402

TARGET_SECONDS = 1.0
TARGET_BYTES = 2 * 1024 * 1024
TOKEN = "benchmark-token-0123456789"


class Timed:
    """The pages, with the CPU time of the thread that rendered each answer kept."""

    def __init__(self, app):
        self.app = app
        self.cpu: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        start = time.thread_time()
        body = list(self.app(environ, start_response))
        with self._lock:
            self.cpu.append(time.thread_time() - start)
        return body


def measure(client: httpx.Client, timed: Timed, url: str, repeat: int) -> dict:
    start = time.perf_counter()
    client.get(url)  # the first request: the ledger's pages may not be in the cache yet
    first = time.perf_counter() - start
    walls, sizes = [], []
    timed.cpu.clear()
    for _ in range(repeat):
        start = time.perf_counter()
        answer = client.get(url)
        walls.append(time.perf_counter() - start)
        assert answer.status_code == 200, (url, answer.status_code)
        sizes.append(len(answer.content))
    return {"bytes": max(sizes), "first": first, "wall": statistics.median(walls), "cpu": statistics.median(timed.cpu)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--ledger", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="status-page-"))
    path = options.ledger or folder / "ledger.db"
    if not path.exists():
        start = time.perf_counter()
        build(path, options.feeds, options.days)
        print(f"built {path} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    ledger = Ledger(f"sqlite:///{path}")
    runs = ledger.db.engine.connect().exec_driver_sql("SELECT count(*) FROM runs").scalar()
    feeds = [HubFeed.read(raw) for raw in feeds_of(options.feeds)]
    timed = Timed(StatusPages(ledger, lambda: feeds, Archive(folder / "archive", 7), clock=lambda: NOW,
                              health=lambda: {"ok": True, "last_wake": NOW.replace(minute=0).isoformat(), "running": 2}))
    web = WebSettings(token=TOKEN)
    server = serve(Metrics(), lambda: (True, {}), "127.0.0.1", 0, timed, guard=lambda app: guarded(app, web))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    pages = {"/ (page 1, problems first)": "/", "/?page=50": "/?page=50", "/?state=problems": "/?state=problems",
             "/feeds/101 (a failed feed)": "/feeds/101"}
    try:
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
            found = {name: measure(client, timed, base + url, options.repeat) for name, url in pages.items()}
    finally:
        server.shutdown()
        ledger.close()
        shutil.rmtree(folder)  # a ledger built there (2.4 GB for a year of 10,000 feeds) too; --ledger keeps it
    print(f"{options.feeds:,} feeds, {runs:,} runs over {options.days} days; median of {options.repeat} requests\n")
    print("| page | bytes | first request s | wall s | server CPU s | target (< 1 s, < 2 MB) |")
    print("|---|---:|---:|---:|---:|---|")
    for name, seen in found.items():
        met = seen["wall"] < TARGET_SECONDS and seen["bytes"] < TARGET_BYTES
        target = ("met" if met else "NOT MET") if name.startswith("/ ") else ("(under the same target)" if met else "over")
        print(f"| {name} | {seen['bytes']:,} | {seen['first']:.3f} | {seen['wall']:.3f} | {seen['cpu']:.3f} | {target} |")


if __name__ == "__main__":
    main()
