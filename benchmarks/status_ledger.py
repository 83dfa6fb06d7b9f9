"""A ledger the size of a large installation, for the status page benchmark: 10,000 feeds and a year of runs.

    python status_ledger.py PATH [FEEDS] [DAYS]

Built by SQLite itself (one ``INSERT ... SELECT`` over a recursive counter,
then the claims and sightings from the runs), so a year of 10,000 feeds
(3.6 million runs) takes seconds, not the hours the daemon would. The feeds
are what ``feeds_of`` returns: feed ``n`` is in organisation ``1 + (n-1)//100``,
due at ``timeslot_of(n)``, every 20th inactive (its runs stop 30 days
before ``NOW``); the last day holds the problems a status page must show
first: failed feeds (with an error, tried 1 to 3 times), held ones, missed
slots (no run at all) and running ones.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from feeds.ledger import Ledger
from feeds.ledger.tables import runs
from feeds.slots import latest_due

NOW = datetime(2026, 11, 27, 14, 10, tzinfo=timezone.utc)
#: the feeds whose latest due slot ended badly, by what happened (feed ids)
FAILED = range(101, 10_000, 400)  # 25 feeds
HELD = range(157, 10_000, 2000)  # 5 feeds
MISSED = range(233, 10_000, 1000)  # 10 feeds
RUNNING = range(311, 10_000, 5000)  # 2 feeds
METHOD_NAMES = ("EMAIL", "FTP", "SITC")


def timeslot_of(feed_id: int) -> int:
    return (feed_id * 7) % 48 * 30


def active(feed_id: int) -> bool:
    return feed_id % 20 != 0


def feeds_of(count: int) -> list[dict]:
    """Hub's feed list: raw configurations of every method, each with the fields its destination needs."""
    feeds = []
    for n in range(1, count + 1):
        method = METHOD_NAMES[n % 3]
        raw = {"id": n, "organisation": 1 + (n - 1) // 100, "name": f"Reseller {n} prices", "active": active(n),
               "timeslot": timeslot_of(n), "delivery_method": method, "columns": ["stock", "price"]}
        if method == "EMAIL":
            raw["delivery_email"] = f"buyer{n}@reseller{n}.example.com"
        elif method == "FTP":
            raw.update(delivery_procotol="SFTP", delivery_server=f"ftp.reseller{n}.example.com",
                       delivery_user=f"user{n}", delivery_password=f"secret-password-{n}", delivery_path="/in")
        else:
            raw.update(sitc_confirm=True, sitc_filename=f"Stock-{n}.csv")
        feeds.append(raw)
    return feeds


_RUNS = """
WITH RECURSIVE f(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM f WHERE id < :feeds),
d(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < :days),
s AS (SELECT f.id AS feed_id, :start + d.n * 86400 + ((f.id * 7) % 48) * 1800 AS at FROM d, f)
INSERT INTO runs (feed_id, organisation, feed_name, slot_start, "trigger", started_at, ended_at, status, method,
                  "rows", bytes, sha256, filename, destination, attempts, error, archive_path, host, pid, owner, changes)
SELECT feed_id, 1 + (feed_id - 1) / 100, 'Reseller ' || feed_id || ' prices',
       strftime('%Y-%m-%dT%H:%M:%S.000000Z', at, 'unixepoch'), 'schedule',
       strftime('%Y-%m-%dT%H:%M:%S.000000Z', at + 4, 'unixepoch'),
       strftime('%Y-%m-%dT%H:%M:%S.000000Z', at + 41, 'unixepoch'), 'delivered', 'EMAIL',
       2400 + feed_id % 97, 180000 + feed_id, printf('%064x', feed_id * 1000003 + at), 'prices-' || feed_id || '.csv',
       'email to buyer' || feed_id || '@reseller' || feed_id || '.example.com', 1, NULL,
       '/var/lib/feeds/archive/' || feed_id || '/prices-' || feed_id || '.csv', 'feeds-1', 4242, 'feeds-1:4242:abc',
       '{"previous_rows": 2398, "rows": 2400, "added": 3, "removed": 1, "price_up": 7, "price_down": 2, '
       || '"out_of_stock": 4, "back_in_stock": 1}'
FROM s WHERE at <= :now AND (feed_id % 20 != 0 OR at <= :now - 30 * 86400)
ORDER BY at, feed_id
"""
_CLAIMS = """
INSERT INTO claims (feed_id, slot_start, run_id, status, lease_until, owner, tries)
SELECT feed_id, slot_start, id, CASE status WHEN 'running' THEN 'running' WHEN 'delivered' THEN 'delivered'
       WHEN 'held' THEN 'held' ELSE 'failed' END, coalesce(ended_at, started_at), owner, 1 FROM runs
"""


def _latest_slot(feed_id: int) -> str:
    return latest_due(timeslot_of(feed_id), NOW).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    for pragma in ("synchronous=OFF", "journal_mode=OFF", "temp_store=MEMORY", "cache_size=-262144"):
        db.execute(f"PRAGMA {pragma}")
    return db


def build(path: Path, feeds: int = 10_000, days: int = 365) -> None:
    """The ledger at ``path``: created by ``Ledger``, the runs inserted in bulk before their indexes (which
    ``Ledger`` then builds, as an older ledger gets them), then the last day's problems, claims and sightings."""
    Ledger(f"sqlite:///{path}").close()
    start = (NOW - timedelta(days=days)).replace(hour=0, minute=0)
    db = _connect(path)
    with db:
        for index in runs.indexes:
            db.execute(f"DROP INDEX {index.name}")
        db.execute(_RUNS, {"feeds": feeds, "days": days, "start": int(start.timestamp()), "now": int(NOW.timestamp())})
    db.close()
    Ledger(f"sqlite:///{path}").close()
    db = _connect(path)
    with db:
        for feed_id in MISSED:
            db.execute("DELETE FROM runs WHERE feed_id = ? AND slot_start = ?", (feed_id, _latest_slot(feed_id)))
        for feed_id in FAILED:
            db.execute("UPDATE runs SET status = 'failed', rows = NULL, bytes = NULL, changes = NULL, attempts = 3, "
                       "error = ? WHERE feed_id = ? AND slot_start = ?",
                       (f"sftp://user{feed_id}@ftp.reseller{feed_id}.example.com/in: connection refused "
                        "(gave up after 3 attempts)", feed_id, _latest_slot(feed_id)))
        for feed_id in HELD:
            db.execute("UPDATE runs SET status = 'held', error = 'held: 2400 rows against 9800 before (a drop of 76 %)'"
                       " WHERE feed_id = ? AND slot_start = ?", (feed_id, _latest_slot(feed_id)))
        for feed_id in RUNNING:
            db.execute("UPDATE runs SET status = 'running', ended_at = NULL WHERE feed_id = ? AND slot_start = ?",
                       (feed_id, _latest_slot(feed_id)))
        db.execute(_CLAIMS)
        for number, feed_id in enumerate(FAILED):
            db.execute("UPDATE claims SET tries = ? WHERE feed_id = ? AND slot_start = ?",
                       (1 + number % 3, feed_id, _latest_slot(feed_id)))
        db.execute("INSERT INTO feeds_seen (feed_id, first_seen) SELECT feed_id, min(started_at) FROM runs "
                   "GROUP BY feed_id")
    db.close()


if __name__ == "__main__":
    build(Path(sys.argv[1]), *(int(a) for a in sys.argv[2:]))
