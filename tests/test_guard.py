"""Never ship a broken feed, and tell someone (SPEC §12): change summary, guard, held files, alerts.

Deliveries go to a real SFTP server (asyncssh), alert mail to aiosmtpd and
alert webhooks to a receiver on 127.0.0.1.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from feeds import wiring

from feeds.changes import Changes, GuardSettings, Snapshot, compare, hold_reason
from feeds.hub import open_hub
from feeds.hub.sandbox import Catalogue
from feeds.ledger import Ledger
from feeds.record import Record
from feeds.release import release
from feeds.runner import run_feed

from delivery_helpers import email_feed, ftp_feed, make_settings, sandbox_with
from servers import SftpServer, SmtpServer, free_port
from test_cli import invoke
from test_ledger import url  # noqa: F401 (the SQLite and PostgreSQL ledger fixture)


def product(pid: int, price: float | None = 10.0, stock: int | None = 5) -> dict:
    return {"id": pid, "product_code": f"SKU-{pid:05d}", "name": f"Product {pid}", "price": price, "stock": stock,
            "is_shippable": True}


class Webhook:
    """An HTTP receiver on 127.0.0.1 that keeps the JSON bodies posted to it."""

    def __init__(self, fail_first: int = 0):
        self.posts: list[dict] = []
        self.fail_first = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.fail_first > 0:
                    outer.fail_first -= 1
                    self.send_response(503)
                else:
                    outer.posts.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Webhook:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class World:
    """One SFTP feed, a sandbox whose catalogue the test changes, one ledger."""

    def __init__(self, tmp_path, server: SftpServer, items: list[dict], **sections):
        self.server = server
        self.sandbox = sandbox_with(ftp_feed(server, "SFTP", filename="stock.csv"), catalogue=Catalogue(items=items))
        self.settings = make_settings(tmp_path, sftp={"host_key_policy": "insecure"}, **sections)

    def run(self, **options):
        with open_hub(self.settings.hub, sandbox=self.sandbox) as hub, Ledger(self.settings.state.database_url) as ledger:
            result = run_feed(wiring.run_environment(self.settings), hub, ledger, 1, **options)
            with wiring.alerts(self.settings) as sender:
                sender.after_run(ledger, result)
            return result

    def release(self, run_id: int):
        with open_hub(self.settings.hub, sandbox=self.sandbox) as hub, Ledger(self.settings.state.database_url) as ledger:
            return release(wiring.run_environment(self.settings), hub, ledger, run_id)

    def history(self) -> list[dict]:
        with Ledger(self.settings.state.database_url) as ledger:
            return [run.to_json() for run in ledger.runs.history(feed_id=1, limit=100)]

    def delivered(self) -> bytes:
        return self.server.files()["stock.csv"]


@pytest.fixture
def sftp(tmp_path):
    root = tmp_path / "sftp"
    root.mkdir()
    with SftpServer(root) as server:
        yield server


def test_a_first_delivery_has_nothing_before_it(tmp_path, sftp):
    world = World(tmp_path, sftp, [product(i) for i in range(1, 11)])
    result = world.run()
    assert result.status == "delivered"
    assert result.changes.to_json() == {"previous_rows": None, "rows": 10, "added": 10, "removed": 0, "price_up": 0,
                                        "price_down": 0, "out_of_stock": 0, "back_in_stock": 0}
    assert "changes: 10 rows, first delivery" in result.summary()
    assert world.history()[0]["changes"]["previous_rows"] is None


def test_known_moves_are_counted_exactly(tmp_path, sftp):
    items = [product(i) for i in range(1, 101)]
    items[5]["stock"] = 0  # out before, back in after
    world = World(tmp_path, sftp, items, guard={"max_row_drop": 0.5})
    assert world.run().status == "delivered"
    moved = [dict(p) for p in items]
    for i in (1, 2, 3):
        moved[i]["price"] = 12.5  # up
    for i in (10, 11):
        moved[i]["price"] = 9.99  # down
    moved[20]["price"] = 10  # the same price written as a whole number: no move
    for i in (30, 31):
        moved[i]["stock"] = None  # out of stock
    moved[40]["stock"] = -3  # out of stock
    moved[5]["stock"] = 7  # back in stock
    moved = [p for p in moved if p["id"] not in (90, 91, 92, 93)]  # removed
    moved += [product(i) for i in range(200, 205)]  # added
    world.sandbox.catalogue = Catalogue(items=moved)
    result = world.run()
    assert result.status == "delivered", result.error
    assert result.changes == Changes(previous_rows=100, rows=101, added=5, removed=4, price_up=3, price_down=2,
                                     out_of_stock=3, back_in_stock=1)
    row = world.history()[0]
    assert row["changes"] == result.changes.to_json()
    table = invoke("--config", str(write_toml(tmp_path, world)), "history").output
    assert "101 rows (was 100): +5 -4 SKUs, prices 3 up 2 down, 3 out of stock, 1 back in stock" in " ".join(
        part.strip(" │┃") for part in table.splitlines())


def write_toml(tmp_path, world) -> object:
    path = tmp_path / "h.toml"
    path.write_text(f'[state]\ndatabase = "{world.settings.state.database}"\n')
    return path


def test_a_collapse_is_held_then_released_byte_identical(tmp_path, sftp):
    world = World(tmp_path, sftp, [product(i) for i in range(1, 101)])
    assert world.run().status == "delivered"
    good = world.delivered()
    world.sandbox.catalogue = Catalogue(items=[product(i, price=11.0) for i in range(1, 41)])  # lost 60 %
    held = world.run()
    assert held.status == "held" and "rows fell from 100 to 40" in held.error
    assert f"feeds release {held.run_id}" in held.error
    assert world.delivered() == good  # nothing was sent
    row = world.history()[0]
    assert row["status"] == "held" and row["changes"]["removed"] == 60 and row["changes"]["price_up"] == 40
    held_bytes = open(row["archive_path"], "rb").read()
    world.sandbox.catalogue = Catalogue(items=[product(i) for i in range(1, 3)])  # Hub changed again meanwhile
    released = world.release(held.run_id)
    assert released.status == "delivered", released.error
    assert world.delivered() == held_bytes  # exactly what was held, not what Hub has now
    runs = world.history()
    assert runs[0]["status"] == "delivered" and runs[0]["trigger"] == "manual" and runs[0]["sha256"] == row["sha256"]
    # The next comparison is with the released file, the one the resellers have now.
    world.sandbox.catalogue = Catalogue(items=[product(i, price=11.0) for i in range(1, 41)])
    again = world.run()
    assert again.status == "delivered" and again.changes.previous_rows == 40 and again.changes.added == 0


def test_an_empty_file_after_a_full_one_and_an_empty_stock_rise_are_held():
    full = Snapshot.of(records(100, empty=10))
    guard = GuardSettings()
    assert "no rows" in hold_reason(full, Snapshot.of([]), guard)
    assert "empty stock rose from 10% to 70%" in hold_reason(full, Snapshot.of(records(100, empty=70)), guard)
    assert hold_reason(full, Snapshot.of(records(100, empty=50)), guard) is None  # 40 points: within 50
    assert hold_reason(None, Snapshot.of([]), guard) is None  # a first delivery has nothing to compare with
    assert hold_reason(full, Snapshot.of([]), GuardSettings(enabled=False)) is None


def records(count: int, empty: int) -> list[Record]:
    return [Record(f"S{i:05d}", i, "" if i < empty else "3", "", "1.00", "", "", "", "", "") for i in range(count)]


def test_no_guard_sends_a_collapse(tmp_path, sftp):
    world = World(tmp_path, sftp, [product(i) for i in range(1, 101)])
    world.run()
    world.sandbox.catalogue = Catalogue(items=[product(i) for i in range(1, 11)])
    result = world.run(guard=False)
    assert result.status == "delivered" and world.delivered().count(b"\r\n") == 11


def test_a_failing_streak_sends_one_alert_then_one_recovery(tmp_path, certs_folder):
    from servers import Certificates

    certs = Certificates(certs_folder)
    with Webhook(fail_first=1) as hook, SmtpServer(certs) as smtp:
        port = free_port()  # nothing listens: every run fails
        feed = {**email_feed(), "delivery_method": "FTP", "delivery_procotol": "FTP", "delivery_server": "127.0.0.1",
                "delivery_port": port, "delivery_user": "u", "delivery_password": "p", "filename": "f.csv"}
        sandbox = sandbox_with(feed)
        settings = make_settings(tmp_path, alerts={"webhook": hook.url, "email": ["ops@example.com"]},
                                 smtp={"host": "127.0.0.1", "port": smtp.port, "ca_file": str(certs.ca_file)},
                                 delivery={"attempts": 1})
        with open_hub(settings.hub, sandbox=sandbox) as hub, Ledger(settings.state.database_url) as ledger:
            events = []
            with wiring.alerts(settings) as sender:
                for _ in range(3):
                    result = run_feed(wiring.run_environment(settings), hub, ledger, 1)
                    events.append(sender.after_run(ledger, result))
            assert [r for r in events] == ["failed", None, None]
            sandbox.feeds[1] = {**email_feed(), "id": 1}
            settings = settings.model_copy(update={"delivery": settings.delivery.model_copy(
                update={"outbox": str(tmp_path / "outbox")})})
            for _ in range(2):  # a new sender each time, as after a restart: the streak is the ledger's
                result = run_feed(wiring.run_environment(settings), hub, ledger, 1)
                with wiring.alerts(settings) as sender:
                    events.append(sender.after_run(ledger, result))
            outcomes = ledger.alerts.outcomes(1)
    assert events[3:] == ["recovered", None]
    assert outcomes == [("failed", "webhook", "sent"), ("failed", "ops@example.com", "sent"),
                        ("recovered", "webhook", "sent"), ("recovered", "ops@example.com", "sent")]
    assert [p["event"] for p in hook.posts] == ["failed", "recovered"]  # the first POST's 503 was tried again
    failed = hook.posts[0]
    assert set(failed) == {"event", "feed_id", "organisation", "feed_name", "run_id", "slot_start", "error",
                           "changes", "text"}
    assert failed["feed_id"] == 1 and failed["organisation"] == 1 and "connection refused" in failed["error"]
    assert failed["text"].startswith("Feed 1 (Test feed) of organisation 1 failed: ")
    assert hook.posts[1]["text"].startswith("Feed 1 (Test feed) of organisation 1 recovered: ")
    mails = [email.message_from_bytes(m.data, policy=email.policy.default) for m in smtp.mails]
    assert [m["To"] for m in mails] == ["ops@example.com"] * 2
    assert "failed" in mails[0]["Subject"] and "recovered" in mails[1]["Subject"]


@pytest.fixture
def certs_folder(tmp_path):
    folder = tmp_path / "certs"
    folder.mkdir()
    return folder


def test_an_alert_that_cannot_be_sent_never_fails_the_run(tmp_path, caplog):
    settings = make_settings(tmp_path, alerts={"webhook": f"http://127.0.0.1:{free_port()}/nobody"},
                             delivery={"attempts": 1})
    feed = {**email_feed(), "delivery_method": "FTP", "delivery_procotol": "FTP", "delivery_server": "127.0.0.1",
            "delivery_port": free_port(), "delivery_user": "u", "delivery_password": "p"}
    with open_hub(settings.hub, sandbox=sandbox_with(feed)) as hub, Ledger(settings.state.database_url) as ledger:
        result = run_feed(wiring.run_environment(settings), hub, ledger, 1)
        with wiring.alerts(settings) as sender:
            assert sender.after_run(ledger, result) == "failed"
        assert ledger.alerts.outcomes(1) == [("failed", "webhook", "given up")]  # not sent again at a restart
    assert "could not be sent" in caplog.text and result.status == "failed"


def test_the_email_of_an_email_feed_states_the_changes(tmp_path):
    settings = make_settings(tmp_path, delivery={"outbox": str(tmp_path / "outbox")})
    sandbox = sandbox_with(email_feed(filename="f.csv"), catalogue=Catalogue(items=[product(i) for i in range(1, 21)]))
    with open_hub(settings.hub, sandbox=sandbox) as hub, Ledger(settings.state.database_url) as ledger:
        run_feed(wiring.run_environment(settings), hub, ledger, 1)
        first = (tmp_path / "outbox" / "1" / "f.csv.eml").read_bytes()
        sandbox.catalogue = Catalogue(items=[product(i, price=20.0) for i in range(1, 19)])
        run_feed(wiring.run_environment(settings), hub, ledger, 1)
        second = (tmp_path / "outbox" / "1" / "f.csv.eml").read_bytes()
    body = lambda raw: email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",)).get_content()
    assert "This is the first delivery of this feed." in body(first)
    text = body(second)
    assert "Since the last delivery (20 rows):" in text and "0 SKUs added, 2 removed" in text
    assert "18 prices up, 0 down" in text


def test_the_comparison_survives_archive_pruning_and_restarts(tmp_path, sftp):
    world = World(tmp_path, sftp, [product(i) for i in range(1, 51)], state={"archive_keep": 0})
    world.run()
    world.sandbox.catalogue = Catalogue(items=[product(i) for i in range(1, 11)])
    assert world.run().status == "held"  # the archive keeps nothing; the ledger's snapshot still compares


def test_snapshots_on_sqlite_and_postgresql(url):  # noqa: F811
    first = Snapshot.of(records(30, empty=3))
    with Ledger(url) as ledger:
        run_id = ledger.runs.start(7, "manual")
        ledger.snapshots.store(run_id, 7, first)
        assert ledger.snapshots.last_delivered(7) is None  # the run is not delivered yet
        ledger.runs.update(run_id, status="delivered")
        stored = ledger.snapshots.last_delivered(7)
    assert stored == first and list(stored.entries())[0] == ("S00000", "1.00", "")
    assert compare(stored, first, prices=True, stock=True) == Changes(30, 30)


def test_the_daemon_tries_a_held_slot_again_like_a_failed_one(tmp_path):
    with Ledger(f"sqlite:///{tmp_path}/l.db") as ledger:
        slot = datetime(2026, 11, 26, 2, 30, tzinfo=timezone.utc)
        assert ledger.claims.take(1, slot, timedelta(minutes=25))
        ledger.claims.settle(1, slot, "held")
        assert ledger.claims.take(1, slot, timedelta(minutes=25))
        ledger.claims.settle(1, slot, "delivered")
        assert not ledger.claims.take(1, slot, timedelta(minutes=25))


# --- broken catalogues the row count does not show (SPEC §12) ----------------------------------------------


@pytest.mark.parametrize("broken, rule, said", [
    ([product(i, price=0.0) for i in range(1, 101)], "guard.max_price_change", "median price ratio"),
    ([product(i, price=1000.0) for i in range(1, 101)], "guard.max_price_change", "is 100.00"),
    ([product(i) for i in range(1001, 1101)], "guard, SKUs replaced", "0 of the last delivery's 100 SKUs"),
])
def test_a_catalogue_broken_in_prices_or_skus_is_held(tmp_path, sftp, broken, rule, said):
    world = World(tmp_path, sftp, [product(i) for i in range(1, 101)])
    assert world.run().status == "delivered"
    good = world.delivered()
    world.sandbox.catalogue = Catalogue(items=broken)
    held = world.run()
    assert held.status == "held", held.error
    assert held.error.startswith(f"{rule}: ") and said in held.error and "feeds release" in held.error
    assert world.delivered() == good
    assert world.history()[0]["error"] == held.error


def test_every_price_at_zero_is_a_ratio_of_zero(tmp_path, sftp):
    world = World(tmp_path, sftp, [product(i) for i in range(1, 101)])
    world.run()
    world.sandbox.catalogue = Catalogue(items=[product(i, price=0.0) for i in range(1, 101)])
    held = world.run()
    assert "guard.max_price_change: the median price ratio (new/old, over the SKUs priced in both files) is 0.00, " \
           "outside 0.50 to 2" in held.error


def test_a_catalogue_shrinking_step_by_step_is_held_against_the_largest_recent_delivery(tmp_path, sftp):
    world = World(tmp_path, sftp, [product(i) for i in range(1, 101)])
    statuses = []
    for rows in (100, 51, 26, 14, 8, 5, 3):
        world.sandbox.catalogue = Catalogue(items=[product(i) for i in range(1, rows + 1)])
        statuses.append(world.run())
    assert [r.status for r in statuses] == ["delivered", "delivered"] + ["held"] * 5
    assert statuses[2].error.startswith("guard.max_row_drop: the rows fell from 100 to 26 (the largest of the last 7 "
                                        "deliveries; the last had 51), 74%, more than 50%")
    assert world.delivered().count(b"\r\n") == 52  # the 51-row file is still what the resellers have


def test_a_released_smaller_catalogue_is_the_new_measure(tmp_path, sftp):
    world = World(tmp_path, sftp, [product(i) for i in range(1, 101)])
    world.run()
    world.sandbox.catalogue = Catalogue(items=[product(i) for i in range(1, 31)])  # a real, large clear-out
    held = world.run()
    assert held.status == "held"
    assert world.release(held.run_id).status == "delivered"
    assert world.run().status == "delivered"  # not held again against the 100 rows still among the last 7
    world.sandbox.catalogue = Catalogue(items=[product(i) for i in range(1, 12)])
    assert world.run().status == "held"  # the released 30 rows are the measure now


def test_the_price_rule_follows_its_setting_and_the_guard_can_be_skipped(tmp_path, sftp):
    world = World(tmp_path, sftp, [product(i) for i in range(1, 101)], guard={"max_price_change": 150})
    world.run()
    world.sandbox.catalogue = Catalogue(items=[product(i, price=1000.0) for i in range(1, 101)])
    assert world.run().status == "delivered"  # ×100 is within 150
    world.sandbox.catalogue = Catalogue(items=[product(i, price=0.0) for i in range(1, 101)])
    assert world.run(guard=False).status == "delivered"  # feeds run --no-guard
    off = World(tmp_path / "off", sftp, [product(i) for i in range(1, 101)], guard={"enabled": False})
    off.run()
    off.sandbox.catalogue = Catalogue(items=[product(i) for i in range(1001, 1101)])
    assert off.run().status == "delivered"


def test_the_median_counts_unmoved_prices_and_leaves_out_empty_ones():
    def price_records(prices: list[str]) -> list[Record]:
        return [Record(f"S{i:05d}", i, "3", "", price, "", "", "", "", "") for i, price in enumerate(prices)]

    before = Snapshot.of(price_records(["10.00"] * 6 + [""] * 4))
    half = compare(before, price_records(["10.00"] * 3 + ["40.00"] * 3 + ["1.00"] * 4), prices=True, stock=True)
    assert half.median_price_ratio == 2.5 and half.kept == 10  # 1, 1, 1, 4, 4, 4: the empty ones have no ratio
    most = compare(before, price_records(["10.00"] * 2 + ["40.00"] * 4 + [""] * 4), prices=True, stock=True)
    assert most.median_price_ratio == 4.0
    from_zero = compare(Snapshot.of(price_records(["0.00"] * 4)), price_records(["5.00"] * 4), prices=True,
                        stock=True)
    assert from_zero.median_price_ratio == float("inf")
    assert "infinite" in hold_reason(Snapshot.of(price_records(["0.00"] * 4)), Snapshot.of(price_records(["5.00"] * 4)),
                                     GuardSettings(), from_zero)
    assert compare(before, price_records(["10.00"] * 10), prices=False, stock=True).median_price_ratio is None
    assert "median_price_ratio" not in half.to_json() and "kept" not in half.to_json()


def test_a_first_delivery_of_a_broken_catalogue_is_never_held(tmp_path, sftp):
    world = World(tmp_path, sftp, [product(i, price=0.0) for i in range(1, 4)])
    assert world.run().status == "delivered"
