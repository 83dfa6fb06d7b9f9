"""Slow and endless alert receivers, and a trickling Hub, with the production numbers (SPEC §11: Time).

    python benchmarks/slow_receivers.py

The hostile-review cases, each against a server on 127.0.0.1 (``tests/hostile.py``):
a webhook sending one header byte every 2 s; two workers and five due feeds
that each alert while the webhook hangs; a webhook reply that never ends; a
mail server trickling its greeting; a Hub answering one byte a second with a
6 s run deadline and a 5 s ``hub.timeout``. Alerts use the default deadline
(10 s a try, 3 tries a second apart). Takes about 80 s. Prints a table.
"""

from __future__ import annotations

import logging
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hostile import HostileServer, TricklingHub, endless_after, trickle  # noqa: E402

from feeds import alerts, wiring  # noqa: E402
from feeds.bounded import Bound  # noqa: E402
from feeds.deliver.limits import REPLY_CAP  # noqa: E402
from feeds.hub import HubClient, as_hubs, open_hub  # noqa: E402
from feeds.hub.sandbox import RunningSandbox, Sandbox  # noqa: E402
from feeds.ledger import Ledger  # noqa: E402
from feeds.runner import RunResult, run_feed  # noqa: E402

FEED = {"organisation": 1, "name": "Bench feed", "active": True, "timeslot": 150,
        "columns": ["name", "stock", "price"], "delivery_method": "EMAIL", "delivery_email": "r@example.com"}


def settings(folder: Path, **sections):
    values = {"hub": {"base_url": "sandbox", "client_id": "sandbox", "client_secret": "sandbox-secret"},
              "state": {"database": str(folder / "feeds.db")}, **sections}
    return wiring.Settings.model_validate(values)


def failed_run() -> RunResult:
    return RunResult(1, "Bench feed", "manual", status="failed", error="no", run_id=1, organisation=1)


def one_alert(folder: Path, **sections) -> str:
    conf = settings(folder, **sections)
    with Ledger(conf.state.database_url) as ledger:
        sender = wiring.alerts(conf)
        started = time.monotonic()
        sender.after_run(ledger, failed_run())
        handed = time.monotonic() - started
        drained = sender.close(120)
        total = time.monotonic() - started
        outcome = ledger.alerts.outcomes()[-1][2]
    return f"after_run {handed * 1000:.0f} ms; {outcome} after {total:.1f} s (drained: {drained})"


def trickling_webhook(folder: Path) -> str:
    with HostileServer(trickle(first=b"H", interval=2.0)) as hook:
        return one_alert(folder, alerts={"webhook": f"http://127.0.0.1:{hook.port}/"}) + f"; {hook.connections} tries"


def feeds_while_the_webhook_hangs(folder: Path) -> str:
    with HostileServer(trickle(first=b"H", interval=2.0)) as hook:
        feeds = {i: {**FEED, "id": i, "name": f"feed {i}"} for i in range(1, 6)}
        conf = settings(folder, alerts={"webhook": f"http://127.0.0.1:{hook.port}/"},
                        delivery={"outbox": str(folder / "outbox")}, schedule={"max_parallel": 2})
        now = datetime(2026, 11, 26, 2, 30, tzinfo=timezone.utc)
        with open_hub(conf.hub, sandbox=Sandbox(feeds=feeds)) as hub, Ledger(conf.state.database_url) as ledger:
            for feed_id in feeds:
                ledger.streaks.set(feed_id, "failed")
            daemon = wiring.daemon(conf, as_hubs(hub), ledger, clock=lambda: now)
            started = time.monotonic()
            results = [future.result(timeout=300) for future in daemon.wake(now)]
            ran = time.monotonic() - started
            queued = sum(outcome is None for _, _, outcome in ledger.alerts.outcomes())
            daemon.stop(0)
            daemon.alerts.close(0.1)
    delivered = sum(r.status == "delivered" for r in results)
    return f"{delivered} of 5 feeds delivered in {ran:.1f} s; then {queued} of their 5 alerts were still queued"


def endless_webhook(folder: Path) -> str:
    head, line = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n", b"x" * 1000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with HostileServer(endless_after(head, line)) as hook:
        bound = Bound.after(10.0, "the bench's deadline", cap=REPLY_CAP)
        try:
            alerts.post_json(f"http://127.0.0.1:{hook.port}/", {"event": "failed"}, bound)
        except Exception as exc:
            said = str(exc)
        summary = one_alert(folder, alerts={"webhook": f"http://127.0.0.1:{hook.port}/"})
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return f"{bound.read} bytes read ({said}); {summary}; peak RSS +{grown:.0f} MB"


def trickling_mail_server(folder: Path) -> str:
    with HostileServer(trickle(first=b"2", interval=2.0)) as server:
        return one_alert(folder, alerts={"email": ["ops@example.com"]},
                         smtp={"host": "127.0.0.1", "port": server.port, "security": "none"})


def trickling_hub(folder: Path) -> str:
    feed = {**FEED, "id": 1}
    hub = TricklingHub(Sandbox(feeds={1: feed}), lambda path, query: path == "/products", interval=1.0)
    conf = settings(folder, delivery={"run_deadline_minutes": 0.1, "outbox": str(folder / "outbox")},
                    hub={"base_url": "sandbox", "client_id": "sandbox", "client_secret": "sandbox-secret",
                         "timeout": 5.0})
    with RunningSandbox(hub) as running, HubClient(conf.hub.model_copy(update={"base_url": running.base_url})) \
            as client, Ledger(conf.state.database_url) as ledger:
        started = time.monotonic()
        result = run_feed(wiring.run_environment(conf), client, ledger, 1)
        elapsed = time.monotonic() - started
        hub.closed.set()
    return f"{result.status} after {elapsed:.1f} s: {result.error}"


CASES = {
    "webhook: a header byte every 2 s": trickling_webhook,
    "2 workers, 5 due feeds alerting, webhook hangs": feeds_while_the_webhook_hangs,
    "webhook: a reply that never ends": endless_webhook,
    "[smtp]: a greeting byte every 2 s": trickling_mail_server,
    "Hub: a byte a second, 6 s deadline, 5 s timeout": trickling_hub,
}


def main() -> None:
    logging.getLogger("feeds").setLevel(logging.CRITICAL)  # the table says it; a hung sender outlives its case
    for name, case in CASES.items():
        with tempfile.TemporaryDirectory() as folder:
            print(f"{name:<50} {case(Path(folder))}", flush=True)


if __name__ == "__main__":
    main()
