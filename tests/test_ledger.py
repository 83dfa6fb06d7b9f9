"""The ledger on SQLite and on a real PostgreSQL server: claims, leases, schema, host keys."""

from __future__ import annotations

import os
import subprocess
import threading
import unicodedata
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, inspect, select, text, update

from feeds.errors import SettingsError
from feeds.ledger import Ledger, stamp
from feeds.ledger.tables import SCHEMA_VERSION, meta, runs, shared_names

from conftest import BIN
from servers import free_port

SLOT = datetime(2026, 11, 26, 2, 30, tzinfo=timezone.utc)
LEASE = timedelta(minutes=25)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return request.getfixturevalue("postgres").new_database()


def test_many_processes_creating_the_schema_at_once(url):
    errors: list[Exception] = []

    def open_it():
        try:
            Ledger(url).close()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_only_one_claim_wins_among_many(url):
    Ledger(url).close()
    ledgers = [Ledger(url) for _ in range(8)]
    wins: list[bool] = []
    barrier = threading.Barrier(len(ledgers))

    def claim(ledger):
        barrier.wait()
        wins.append(bool(ledger.claims.take(7, SLOT, LEASE, now=SLOT, owner="h:1:t")))

    threads = [threading.Thread(target=claim, args=(lg,)) for lg in ledgers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]
    for lg in ledgers:
        lg.close()


def test_claim_lifecycle(url):
    with Ledger(url) as ledger:
        assert ledger.claims.take(1, SLOT, LEASE, now=SLOT, owner="a:1:x")
        assert not ledger.claims.take(1, SLOT, LEASE, now=SLOT + timedelta(minutes=24), owner="b:2:y")
        assert ledger.claims.take(1, SLOT, LEASE, now=SLOT + timedelta(minutes=26), owner="b:2:y")  # lease ran out
        ledger.claims.settle(1, SLOT, "failed")
        assert ledger.claims.take(1, SLOT, LEASE, now=SLOT + timedelta(minutes=30), owner="b:2:y")  # third try
        ledger.claims.settle(1, SLOT, "failed")
        assert not ledger.claims.take(1, SLOT, LEASE, now=SLOT + timedelta(minutes=60), owner="b:2:y")  # tried 3 times
        assert ledger.claims.take(2, SLOT, LEASE, now=SLOT)
        ledger.claims.settle(2, SLOT, "delivered")
        assert not ledger.claims.take(2, SLOT, LEASE, now=SLOT + timedelta(hours=5))
        assert ledger.claims.status(2, SLOT) == "delivered"


def test_a_claim_of_a_worker_known_dead_is_taken_over_with_the_run_it_interrupted(url):
    """The fleet's liveness (heartbeats) or this host's processes say who is gone; the lease is only the bound."""
    with Ledger(url) as ledger:
        assert ledger.claims.take(1, SLOT, LEASE, now=SLOT, owner="far:1:x", worker="7")
        run_id = ledger.runs.start(1, "schedule", slot_start=SLOT)
        ledger.claims.attach_run(1, SLOT, run_id)
        alive = lambda owner, worker: False  # noqa: E731
        dead = lambda owner, worker: worker == "7"  # noqa: E731
        assert ledger.claims.take(1, SLOT, LEASE, now=SLOT, owner="near:2:y", worker="8", dead=alive) is None
        taken = ledger.claims.take(1, SLOT, LEASE, now=SLOT, owner="near:2:y", worker="8", dead=dead)
        assert taken is not None and taken.tries == 2 and taken.previous_run == run_id
        assert ledger.claims.take(1, SLOT, LEASE, now=SLOT, owner="third:3:z", dead=dead) is None  # 8 is alive


def test_a_manual_run_takes_its_slot_unless_a_live_run_holds_it(url):
    with Ledger(url) as ledger:
        assert ledger.claims.take(1, SLOT, LEASE, now=SLOT, owner="d:1:x")
        assert ledger.claims.take_manual(1, SLOT, LEASE, now=SLOT, owner="m:2:y", dead=lambda o, w: False) == "busy"
        ledger.claims.settle(1, SLOT, "failed")
        ledger.claims.settle(1, SLOT, "failed")
        taken = ledger.claims.take_manual(1, SLOT, LEASE, now=SLOT, owner="m:2:y")
        assert taken and taken.tries == 2
        ledger.claims.settle(1, SLOT, "delivered")
        assert ledger.claims.take_manual(1, SLOT, LEASE, now=SLOT, owner="m:2:y") == "delivered"
        ledger.claims.settle(2, SLOT, "delivered")  # a slot nobody claimed, settled by a manual delivery
        assert ledger.claims.status(2, SLOT) == "delivered"


def test_expired_claims_mark_their_runs_abandoned(url):
    with Ledger(url) as ledger:
        ledger.claims.take(1, SLOT, LEASE, now=SLOT, owner="far:1:x")
        run_id = ledger.runs.start(1, "schedule", slot_start=SLOT)
        ledger.claims.attach_run(1, SLOT, run_id)
        assert ledger.claims.abandon_expired(SLOT + timedelta(minutes=10)) == 0
        assert ledger.claims.abandon_expired(SLOT + timedelta(minutes=30)) == 1
        run = ledger.runs.get(run_id)
        assert run.status == "failed" and "abandoned" in run.error


def test_runs_and_attempts(url):
    with Ledger(url) as ledger:
        run_id = ledger.runs.start(3, "manual", organisation=1, feed_name="F", method="FTP")
        start = datetime.now(timezone.utc)
        ledger.runs.record_attempt(run_id, 1, start, start, "dropped")
        ledger.runs.record_attempt(run_id, 2, start, start, None)
        ledger.runs.update(run_id, status="delivered", rows=5, bytes=10, sha256="ab", ended_at=start)
        (run,) = ledger.runs.history(feed_id=3)
        assert run.status == "delivered" and run.attempts == 2 and run.rows == 5
        assert [a.error for a in ledger.runs.attempts_of(run_id)] == ["dropped", None]
        assert ledger.runs.history(feed_id=4) == []


def test_first_seen_is_remembered(url):
    with Ledger(url) as ledger:
        assert ledger.sightings.first_seen(5, SLOT) == SLOT
        assert ledger.sightings.first_seen(5, SLOT + timedelta(days=1)) == SLOT


def test_the_status_pages_reads_many_feeds_in_one_statement_each(url):
    """The newest run of thousands of feeds, the archived one, a day of runs and claims, the sightings."""
    day = SLOT - timedelta(days=1)
    with Ledger(url) as ledger:
        rows = []
        for feed_id in range(1, 1501):
            for n, when in enumerate((day - timedelta(days=2), day, SLOT)):
                rows.append({"feed_id": feed_id, "slot_start": stamp(when), "trigger": "schedule",
                             "started_at": stamp(when + timedelta(seconds=5)), "attempts": 1,
                             "status": "delivered" if n < 2 or feed_id % 3 else "failed",
                             "archive_path": f"/a/{feed_id}/{n}" if n < 2 or feed_id % 3 else None})
        with ledger.db.engine.begin() as conn:
            conn.execute(insert(runs), rows)
        manual = ledger.runs.start(7, "manual", started_at=SLOT + timedelta(minutes=5))  # no slot
        last = ledger.runs.last_of(range(1, 1502))
        assert len(last) == 1500 and 1501 not in last
        assert last[7].run_id == manual and last[8].slot_start == stamp(SLOT) and last[9].status == "failed"
        archived = ledger.runs.last_of([8, 9], archived=True)
        assert archived[8].archive_path == "/a/8/2" and archived[9].archive_path == "/a/9/1"  # 9's newest failed
        assert ledger.runs.last_of([]) == {}
        recent = ledger.runs.since(day, [8, 9, 7])
        assert [(r.feed_id, r.slot_start) for r in recent] == [(7, stamp(day)), (7, stamp(SLOT)), (8, stamp(day)),
                                                               (8, stamp(SLOT)), (9, stamp(day)), (9, stamp(SLOT)),
                                                               (7, None)]  # in id order; no run of 3 days ago
        assert ledger.runs.since(day, []) == []
        ledger.claims.take(8, SLOT, LEASE, now=SLOT)
        ledger.claims.settle(8, SLOT, "failed")
        ledger.claims.take(8, SLOT, LEASE, now=SLOT)
        ledger.claims.take(9, day - timedelta(hours=1), LEASE, now=day)
        assert [(c.feed_id, c.slot_start, c.status, c.tries) for c in ledger.claims.since(day)] == [
            (8, SLOT, "running", 2)]
        assert ledger.claims.since(day, [9]) == []
        ledger.sightings.first_seen(8, day)
        ledger.sightings.first_seen(9, SLOT)
        assert ledger.sightings.all() == {8: day, 9: SLOT} and ledger.sightings.all([9]) == {9: SLOT}


def test_an_older_ledger_gets_the_new_indexes_when_opened(url):
    with Ledger(url) as ledger:
        with ledger.db.engine.begin() as conn:
            for index in runs.indexes:
                index.drop(conn)
    with Ledger(url) as ledger:
        found = {index["name"] for index in inspect(ledger.db.engine).get_indexes("runs")}
    assert {"ix_runs_feed_id_id", "ix_runs_feed_id_started_at", "ix_runs_feed_id_slot_start"} <= found


def test_host_keys_and_leftovers(url):
    with Ledger(url) as ledger:
        assert ledger.host_keys.get("h", 22) is None
        ledger.host_keys.remember("h", 22, "ssh-ed25519", "AAA", "SHA256:x")
        ledger.host_keys.remember("h", 22, "ssh-rsa", "BBB", "SHA256:y")  # the first key stays
        assert ledger.host_keys.get("h", 22) == ("ssh-ed25519", "AAA", "SHA256:x")
        assert ledger.host_keys.forget("h", 22) and ledger.host_keys.get("h", 22) is None
        ledger.leftovers.set(1, "ftp://u@h:21/", [".a.part", ".b.part"])
        assert sorted(ledger.leftovers.get(1, "ftp://u@h:21/")) == [".a.part", ".b.part"]
        assert ledger.leftovers.get(1, "ftp://u@other:21/") == []
        ledger.leftovers.set(1, "ftp://u@h:21/", [])
        assert ledger.leftovers.get(1, "ftp://u@h:21/") == []


def test_a_newer_schema_is_refused(url):
    with Ledger(url) as ledger:
        with ledger.db.engine.begin() as conn:
            conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="99"))
    with pytest.raises(SettingsError, match="schema version 99, newer than this feeds understands"):
        Ledger(url)


def test_an_unusable_database_is_a_settings_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SettingsError, match="cannot be created"):
        Ledger(f"sqlite:///{blocker}/sub/ledger.db")
    with pytest.raises(SettingsError, match="not a usable database URL"):
        Ledger("nosuchdb://x")


# --- SITC file names kept as SITC may see them (SPEC §11), and ledgers that kept them exactly -------------


def test_a_shared_name_is_one_name_whatever_its_case_or_unicode_form(url):
    with Ledger(url) as ledger:
        assert ledger.names.take("SITC", "Stöck.csv", 1, 1) is None  # NFC: ö is one code point
        for other in ("STÖCK.CSV", "stöck.csv", unicodedata.normalize("NFD", "Stöck.csv"), "sTÖck.csv"):
            owner = ledger.names.take("SITC", other, 2, 5)
            assert owner is not None and owner.organisation == 1 and owner.feed_id == 1, other
        assert ledger.names.take("SITC", "STÖCK.csv", 1, 2) is None  # the owner's other feeds may
        assert ledger.names.take("SITC", "Stock.csv", 2, 5) is None  # another name: o is not ö


def test_a_ledger_that_kept_names_exactly_is_brought_to_the_folded_form(url, caplog):
    with Ledger(url) as ledger:
        with ledger.db.engine.begin() as conn:
            conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="2"))
            conn.execute(insert(shared_names), [
                {"method": "SITC", "name": "STOCK.CSV", "organisation": 2, "feed_id": 5,
                 "claimed_at": "2026-11-02T02:30:00.000000Z"},
                {"method": "SITC", "name": "Stock.csv", "organisation": 1, "feed_id": 1,
                 "claimed_at": "2026-11-01T02:30:00.000000Z"},
                {"method": "SITC", "name": "stock.csv", "organisation": 1, "feed_id": 2,
                 "claimed_at": "2026-11-03T02:30:00.000000Z"},
                {"method": "SITC", "name": unicodedata.normalize("NFD", "Prisé.csv"), "organisation": 3,
                 "feed_id": 7, "claimed_at": "2026-11-04T02:30:00.000000Z"},
                {"method": "SITC", "name": "other.csv", "organisation": 2, "feed_id": 6,
                 "claimed_at": "2026-11-05T02:30:00.000000Z"},
            ])
    errors: list[Exception] = []

    def open_it():  # several daemons starting at once migrate it once
        try:
            Ledger(url).close()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Ledger(url) as ledger:
        with ledger.db.engine.connect() as conn:
            kept = sorted(tuple(row) for row in conn.execute(
                select(shared_names.c.name, shared_names.c.organisation, shared_names.c.feed_id)))
            version = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        assert kept == [("other.csv", 2, 6), ("prisé.csv", 3, 7), ("stock.csv", 1, 1)]
        assert version == str(SCHEMA_VERSION) == "3"
        assert ledger.names.take("SITC", "Stock.CSV", 2, 5).organisation == 1  # the first to claim it keeps it
        assert ledger.names.take("SITC", "PRISÉ.csv", 1, 1).organisation == 3
    assert "'STOCK.CSV' of organisation 2 is the name 'Stock.csv' of organisation 1" in caplog.text


def test_a_ledger_of_schema_version_1_still_opens(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    with Ledger(url) as ledger:
        with ledger.db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE runs DROP COLUMN changes"))
            conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="1"))
    with Ledger(url) as ledger:
        run_id = ledger.runs.start(1, "manual")
        ledger.runs.update(run_id, changes={"previous_rows": None, "rows": 1})
        assert ledger.runs.get(run_id).changes == {"previous_rows": None, "rows": 1}


# --- a ledger that cannot be opened: one sentence, exit 2 --------------------------------------------------


def damaged_ledgers(tmp_path):
    """A file of random bytes, a ledger with one table's page overwritten, a ledger cut short."""
    good = tmp_path / "good.db"
    with Ledger(f"sqlite:///{good}") as ledger:
        for feed_id in range(50):
            ledger.runs.start(feed_id, "manual")
    data = good.read_bytes()
    noise = tmp_path / "noise.db"
    noise.write_bytes(os.urandom(20_000))
    overwritten = tmp_path / "overwritten.db"
    overwritten.write_bytes(data[:4096 * 3] + os.urandom(4096) + data[4096 * 4:])  # page 4: the runs table
    cut = tmp_path / "cut.db"
    cut.write_bytes(data[:len(data) // 2])
    return [noise, overwritten, cut]


def test_a_damaged_sqlite_ledger_is_one_sentence_naming_the_file(tmp_path):
    for damaged in damaged_ledgers(tmp_path):
        with pytest.raises(SettingsError) as refused:
            Ledger(f"sqlite:///{damaged}")
        message = str(refused.value)
        assert message.startswith(f"the state database {damaged} is damaged (") and "\n" not in message, message
        assert "move it away to start a new ledger" in message and "SQL" not in message.replace("SQLite", "")


def test_feeds_commands_and_the_daemon_refuse_a_damaged_or_unreachable_ledger(tmp_path):
    noise = tmp_path / "noise.db"
    noise.write_bytes(os.urandom(20_000))
    closed = free_port()
    for database, said in ((str(noise), f"error: the state database {noise} is damaged ("),
                           (f"postgresql+psycopg://feeds:secret-pw@127.0.0.1:{closed}/feeds",
                            f"error: the state database postgresql+psycopg://feeds:***@127.0.0.1:{closed}/feeds "
                            "cannot be reached (")):
        conf = tmp_path / "feeds.toml"
        conf.write_text(f'[hub]\nbase_url = "sandbox"\nclient_id = "sandbox"\nclient_secret = "sandbox-secret"\n'
                        f'[state]\ndatabase = "{database}"\n')
        for command in (["history"], ["daemon"]):
            done = subprocess.run([str(BIN / "feeds"), "--config", str(conf), *command], capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 2, (command, done.stderr)
            errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
            assert len(errors) == 1 and errors[0].startswith(said), done.stderr
            assert "bug" not in done.stderr and "secret-pw" not in done.stderr


def test_an_unreachable_postgresql_is_one_sentence(tmp_path):
    with pytest.raises(SettingsError, match=r"cannot be reached \(connection failed: .*Connection refused\); "
                                            r"check state.database and that the database server runs$"):
        Ledger(f"postgresql+psycopg://feeds@127.0.0.1:{free_port()}/feeds")
