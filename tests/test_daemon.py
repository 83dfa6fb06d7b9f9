"""The daemon's schedule with a controllable clock: slots, once per slot, catch-up, isolation."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from conftest import FAST_HUB
from feeds import wiring
from feeds.daemon import Daemon, wake_trigger
from feeds.hub import as_hubs
from feeds.slots import latest_due, slot_of
from pydantic import SecretStr

from feeds.hub import Hubs
from feeds.hub.client import HubClient
from feeds.hub.sandbox import Catalogue, Fault, Organisation, RunningSandbox, Sandbox
from feeds.ledger import Ledger
from feeds.metrics import Metrics, serve

from delivery_helpers import BASE_FEED, make_settings
from servers import FtpServer, free_port

DAY = datetime(2026, 11, 26, tzinfo=timezone.utc)


def at(hhmm: str, day: int = 0) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return DAY + timedelta(days=day, hours=hours, minutes=minutes)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def email_feed(feed_id: int, timeslot: int, **extra) -> dict:
    return {**BASE_FEED, "id": feed_id, "name": f"feed {feed_id}", "timeslot": timeslot, "delivery_method": "EMAIL",
            "delivery_email": f"f{feed_id}@example.com", **extra}


class World:
    """A sandbox over HTTP, settings with an outbox, and daemons sharing one ledger."""

    def __init__(self, tmp_path: Path, sandbox: Sandbox, running: RunningSandbox, **sections):
        self.tmp = tmp_path
        self.sandbox = sandbox
        self.running = running
        self.outbox = tmp_path / "outbox"
        self.settings = make_settings(tmp_path, delivery={"outbox": str(self.outbox), "retry_wait": 0.0},
                                      hub={"base_url": running.base_url}, **sections)
        self.clock = Clock(at("00:00"))
        self.daemons: list[Daemon] = []

    def daemon(self, hubs: Hubs | None = None, **options) -> Daemon:
        hub = hubs or HubClient(self.settings.hub, policy=FAST_HUB)
        ledger = Ledger(self.settings.state.database_url)
        daemon = wiring.daemon(self.settings, as_hubs(hub), ledger, clock=self.clock, sleep=self.clock.sleep,
                               **options)
        self.daemons.append(daemon)
        return daemon

    def wake(self, daemon: Daemon, when: datetime):
        self.clock.now = when
        futures = daemon.wake(when)
        assert daemon.wait_idle(60)
        return [run for future in futures for run in (future.result() or [])]  # none: claimed elsewhere

    def deliveries(self, feed_id: int) -> list[dict]:
        journal = self.outbox / str(feed_id) / "deliveries.jsonl"
        return [json.loads(line) for line in journal.read_text().splitlines()] if journal.exists() else []

    def runs(self, feed_id: int | None = None) -> list[dict]:
        with Ledger(self.settings.state.database_url) as ledger:
            return [run.to_json() for run in ledger.runs.history(feed_id=feed_id, limit=1000)]


@pytest.fixture
def world(tmp_path):
    sandbox = Sandbox(feeds={})
    with RunningSandbox(sandbox) as running:
        w = World(tmp_path, sandbox, running)
        yield w
        for daemon in w.daemons:
            daemon.stop(0)
            daemon.hubs.close()
            daemon.ledger.close()


def test_slot_arithmetic():
    assert slot_of(at("02:44")) == at("02:30") and slot_of(at("02:30")) == at("02:30")
    assert latest_due(150, at("02:30")) == at("02:30")
    assert latest_due(150, at("02:29")) == at("02:30", day=-1)
    assert latest_due(0, at("00:10")) == at("00:00")
    assert latest_due(1410, at("00:10")) == at("23:30", day=-1)


def test_the_trigger_wakes_at_every_slot_boundary():
    trigger = wake_trigger()
    assert trigger.get_next_fire_time(None, at("02:10")) == at("02:30")
    assert trigger.get_next_fire_time(None, at("02:30") + timedelta(seconds=1)) == at("03:00")
    assert trigger.get_next_fire_time(None, at("23:45")) == at("00:00", day=1)


def test_a_feed_runs_in_its_slot_and_not_in_others(world):
    world.sandbox.feeds[1] = email_feed(1, 150)
    daemon = world.daemon()
    assert world.wake(daemon, at("02:00")) == []
    (result,) = world.wake(daemon, at("02:30"))
    assert result.status == "delivered" and result.trigger == "schedule"
    assert world.wake(daemon, at("03:00")) == []
    assert world.wake(daemon, at("02:30", day=1) - timedelta(minutes=30)) == []
    (tomorrow,) = world.wake(daemon, at("02:30", day=1))
    assert tomorrow.status == "delivered"
    assert len(world.deliveries(1)) == 2
    runs = world.runs(1)
    assert [r["slot_start"][:16] for r in runs] == ["2026-11-27T02:30", "2026-11-26T02:30"]
    assert {r["trigger"] for r in runs} == {"schedule"}


def test_inactive_feeds_never_run(world):
    world.sandbox.feeds[1] = email_feed(1, 150, active=False)
    daemon = world.daemon()
    for when in ["02:00", "02:30", "03:00"]:
        assert world.wake(daemon, at(when)) == []
    assert world.deliveries(1) == []


def test_a_changed_timeslot_on_hub_applies_at_the_next_wake(world):
    world.sandbox.feeds[1] = email_feed(1, 180)
    daemon = world.daemon()
    world.wake(daemon, at("02:30"))
    world.sandbox.feeds[1] = email_feed(1, 210)  # 03:00 -> 03:30, changed on Hub
    assert world.wake(daemon, at("03:00")) == []
    (result,) = world.wake(daemon, at("03:30"))
    assert result.status == "delivered" and result.slot_start == at("03:30")


def test_a_restart_within_the_slot_does_not_deliver_twice(world):
    world.sandbox.feeds[1] = email_feed(1, 150)
    first = world.daemon()
    world.wake(first, at("02:00"))
    world.wake(first, at("02:30"))
    first.stop(0)
    second = world.daemon()
    assert world.wake(second, at("02:41")) == []
    assert world.wake(second, at("03:00")) == []
    assert len(world.deliveries(1)) == 1


def test_a_claim_left_by_a_crash_expires_and_is_retried(world):
    world.sandbox.feeds[1] = email_feed(1, 150)
    daemon = world.daemon()
    world.wake(daemon, at("02:00"))  # first seen
    # Another machine claimed the slot, started the run and died.
    with Ledger(world.settings.state.database_url) as ledger:
        assert ledger.claims.take(1, at("02:30"), timedelta(minutes=25), now=at("02:30"), owner="other-host:4242:dead")
        run_id = ledger.runs.start(1, "schedule", slot_start=at("02:30"), started_at=at("02:30"))
        ledger.claims.attach_run(1, at("02:30"), run_id)
    assert world.wake(daemon, at("02:40")) == []  # the lease still holds
    (retry,) = world.wake(daemon, at("03:00"))  # lease ran out at 02:55
    assert retry.status == "delivered" and retry.trigger == "catch-up" and retry.slot_start == at("02:30")
    runs = {r["run_id"]: r for r in world.runs(1)}
    assert runs[run_id]["status"] == "failed" and "abandoned" in runs[run_id]["error"]
    assert len(world.deliveries(1)) == 1


def test_an_interrupted_last_try_is_settled_at_the_next_wake_and_not_tried_a_fourth_time(world):
    """Two tries failed, the third's process died mid-run: the next wake settles that run (its file was not
    made visible) and the slot ends failed; it does not stay "running" all day, nor is it tried again."""
    world.sandbox.feeds[1] = email_feed(1, 150)
    daemon = world.daemon()
    world.wake(daemon, at("02:00"))  # first seen
    lease = timedelta(minutes=25)
    with Ledger(world.settings.state.database_url) as ledger:
        for minute in ("02:30", "02:35"):
            assert ledger.claims.take(1, at("02:30"), lease, now=at(minute), owner="other-host:4242:x")
            ledger.claims.settle(1, at("02:30"), "failed")
        assert ledger.claims.take(1, at("02:30"), lease, now=at("02:40"), owner="other-host:4242:dead").tries == 3
        run_id = ledger.runs.start(1, "schedule", slot_start=at("02:30"), started_at=at("02:40"))
        ledger.claims.attach_run(1, at("02:30"), run_id)
    assert world.wake(daemon, at("03:30")) == []  # the lease ran out at 03:05: settled, not run
    with Ledger(world.settings.state.database_url) as ledger:
        assert ledger.claims.status(1, at("02:30")) == "failed"
    runs = {r["run_id"]: r for r in world.runs(1)}
    assert runs[run_id]["status"] == "failed" and "abandoned" in runs[run_id]["error"]
    assert world.wake(daemon, at("04:00")) == [] and world.deliveries(1) == []


def test_a_claim_of_a_dead_process_on_this_host_is_retried_at_once(world):
    import socket

    world.sandbox.feeds[1] = email_feed(1, 150)
    daemon = world.daemon()
    world.wake(daemon, at("02:00"))
    with Ledger(world.settings.state.database_url) as ledger:
        ledger.claims.take(1, at("02:30"), timedelta(minutes=25), now=at("02:30"),
                     owner=f"{socket.gethostname()}:999999:gone")
    (retry,) = world.wake(daemon, at("02:35"))
    assert retry.status == "delivered"


def test_a_daemon_down_across_a_slot_catches_it_up(world):
    world.sandbox.feeds[1] = email_feed(1, 150)
    world.sandbox.feeds[2] = email_feed(2, 60)
    first = world.daemon()
    world.wake(first, at("00:30"))  # both feeds first seen
    first.stop(0)
    later = world.daemon()  # down from 00:30 to 05:10
    results = world.wake(later, at("05:10"))
    assert sorted((r.feed_id, r.trigger, r.slot_start) for r in results) == [
        (1, "catch-up", at("02:30")), (2, "catch-up", at("01:00"))]
    assert world.wake(later, at("05:30")) == []


def test_a_fresh_install_does_not_flood(world):
    for i in range(1, 6):
        world.sandbox.feeds[i] = email_feed(i, 30 * i)
    daemon = world.daemon()
    assert world.wake(daemon, at("05:10")) == []
    assert all(world.deliveries(i) == [] for i in range(1, 6))


def test_catch_up_is_limited_to_the_last_24_hours(world):
    world.sandbox.feeds[1] = email_feed(1, 150)
    daemon = world.daemon()
    world.wake(daemon, at("02:00"))
    daemon.stop(0)
    later = world.daemon()
    (result,) = world.wake(later, at("02:00", day=2))  # two days later: only the latest slot
    assert result.slot_start == at("02:30", day=1)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_daemons_on_one_ledger_deliver_each_feed_once(world, database, request):
    if database == "postgresql":
        url = request.getfixturevalue("postgres").new_database()
        state = world.settings.state.model_copy(update={"database": url, "archive_dir": str(world.tmp / "archive")})
        world.settings = world.settings.model_copy(update={"state": state})
    for i in range(1, 9):
        world.sandbox.feeds[i] = email_feed(i, 150)
    a, b = world.daemon(), world.daemon()
    world.wake(a, at("02:00"))
    results: dict[str, list] = {}

    def wake(name, daemon):
        results[name] = daemon.wake(at("02:30"))

    threads = [threading.Thread(target=wake, args=(n, d)) for n, d in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a.wait_idle(60)
    b.wait_idle(60)
    done = [run for f in results["a"] + results["b"] for run in (f.result() or [])]
    assert sorted(r.feed_id for r in done) == list(range(1, 9))
    assert all(len(world.deliveries(i)) == 1 for i in range(1, 9))


def test_twenty_feeds_in_one_slot_read_each_catalogue_once(world):
    world.sandbox.catalogue = Catalogue(count=2500)
    world.sandbox.add_organisation(Organisation(2, "Reseller", 1, Catalogue(count=2500, price_factor=2.0)),
                                   "reseller", "reseller-secret")
    for i in range(1, 21):
        world.sandbox.feeds[i] = email_feed(i, 150, organisation=1 + i % 2)  # ten feeds of each organisation
    settings = world.settings.hub
    reseller = settings.model_copy(update={"client_id": "reseller", "client_secret": SecretStr("reseller-secret")})
    daemon = world.daemon(hubs=Hubs.of(HubClient(settings, policy=FAST_HUB), HubClient(reseller, policy=FAST_HUB)))
    world.wake(daemon, at("02:00"))
    before = dict(world.sandbox.recorded.counts)
    results = world.wake(daemon, at("02:30"))
    assert len(results) == 20 and all(r.status == "delivered" for r in results)
    assert world.sandbox.recorded.counts["GET /products"] - before.get("GET /products", 0) == 6  # 3 pages, once each
    assert world.sandbox.recorded.counts["GET /vendors"] - before.get("GET /vendors", 0) == 2
    assert world.sandbox.recorded.counts["GET /feeds/{id}"] == 0  # the list is read once per wake, not per feed


def test_one_broken_feed_never_stops_the_others(world, tmp_path):
    world.sandbox.feeds[1] = email_feed(1, 150)
    world.sandbox.feeds[2] = email_feed(2, 150, delivery_email="not an address")
    world.sandbox.feeds[3] = {**email_feed(3, 150), "columns": ["colour"]}
    world.sandbox.feeds[4] = email_feed(4, 45)  # not a usable timeslot: never scheduled
    world.sandbox.feeds[5] = email_feed(5, 150)
    daemon = world.daemon()
    world.wake(daemon, at("02:00"))
    results = {r.feed_id: r for r in world.wake(daemon, at("02:30"))}
    assert set(results) == {1, 2, 3, 5}
    assert results[1].status == results[5].status == "delivered"
    assert results[2].status == "failed" and "delivery_email" in results[2].error
    assert results[3].status == "failed" and "columns[0]" in results[3].error


def test_a_delivery_failure_is_recorded_and_the_others_go_on(tmp_path):
    sandbox = Sandbox(feeds={})
    with RunningSandbox(sandbox) as running:
        w = World(tmp_path, sandbox, running)
        w.settings = make_settings(tmp_path, hub={"base_url": running.base_url}, delivery={"retry_wait": 0.0})
        (tmp_path / "ftp").mkdir()
        with FtpServer(tmp_path / "ftp") as server:
            good = {**BASE_FEED, "id": 1, "timeslot": 150, "delivery_method": "FTP", "delivery_procotol": "FTP",
                    "delivery_server": "127.0.0.1", "delivery_port": server.port, "delivery_user": server.user,
                    "delivery_password": server.password, "filename": "ok.csv"}
            sandbox.feeds[1] = good
            sandbox.feeds[2] = {**good, "id": 2, "delivery_port": free_port()}
            daemon = w.daemon()
            w.wake(daemon, at("02:00"))
            results = {r.feed_id: r for r in w.wake(daemon, at("02:30"))}
            assert results[1].status == "delivered" and "ok.csv" in server.files()
            assert results[2].status == "failed" and results[2].attempts == 3
            daemon.stop(0)


def test_a_feed_that_keeps_failing_is_tried_three_times_per_slot(world):
    world.sandbox.feeds[1] = email_feed(1, 150, delivery_email="broken")
    daemon = world.daemon()
    world.wake(daemon, at("02:00"))
    for when in ["02:30", "03:00", "03:30", "04:00", "04:30"]:
        world.wake(daemon, at(when))
    runs = world.runs(1)
    assert len(runs) == 3 and all(r["status"] == "failed" for r in runs)
    assert [r["trigger"] for r in reversed(runs)] == ["schedule", "catch-up", "catch-up"]


def test_a_hub_outage_at_a_wake_is_retried_within_the_slot(world):
    world.sandbox.feeds[1] = email_feed(1, 150)
    daemon = world.daemon()
    world.wake(daemon, at("02:00"))
    world.sandbox.add_fault(Fault("status", path="/feeds", status=503, times=12))
    (result,) = world.wake(daemon, at("02:30"))
    assert result.status == "delivered"
    assert world.clock.now > at("02:30")  # it waited (on the test's clock)


def test_a_hub_outage_for_the_whole_slot_gives_up_until_the_next_wake(world):
    world.sandbox.feeds[1] = email_feed(1, 150)
    daemon = world.daemon()
    world.wake(daemon, at("02:00"))
    fault = world.sandbox.add_fault(Fault("status", path="/feeds", status=503, times=-1))
    assert world.wake(daemon, at("02:30")) == []
    assert world.clock.now < at("03:00")
    world.sandbox.faults.remove(fault)
    (result,) = world.wake(daemon, at("03:00"))
    assert result.trigger == "catch-up" and result.status == "delivered"


def test_a_catalogue_failure_fails_the_slots_feeds_without_reading_again_per_feed(world):
    for i in range(1, 4):
        world.sandbox.feeds[i] = email_feed(i, 150)
    daemon = world.daemon()
    world.wake(daemon, at("02:00"))
    world.sandbox.add_fault(Fault("status", path="/products", status=500, times=-1))
    results = world.wake(daemon, at("02:30"))
    assert len(results) == 3 and all(r.status == "failed" and "500" in r.error for r in results)
    assert world.sandbox.recorded.counts["GET /products"] == 5  # one read, its 5 attempts


def test_shutdown_cuts_off_a_slow_delivery_and_records_it(tmp_path):
    sandbox = Sandbox(feeds={})
    with RunningSandbox(sandbox) as running:
        w = World(tmp_path, sandbox, running)
        w.settings = make_settings(tmp_path, hub={"base_url": running.base_url},
                                   delivery={"retry_wait": 0.0, "timeout": 30.0})
        (tmp_path / "ftp").mkdir()
        with FtpServer(tmp_path / "ftp") as server:
            server.faults.stall = 0.3
            sandbox.catalogue = Catalogue(count=3000)
            sandbox.feeds[1] = {**BASE_FEED, "id": 1, "timeslot": 150, "delivery_method": "FTP",
                                "delivery_procotol": "FTP", "delivery_server": "127.0.0.1",
                                "delivery_port": server.port, "delivery_user": server.user,
                                "delivery_password": server.password, "filename": "slow.csv"}
            daemon = w.daemon()
            w.wake(daemon, at("02:00"))
            w.clock.now = at("02:30")
            daemon.wake(at("02:30"))
            import time

            deadline = time.monotonic() + 10
            while "STOR" not in server.commands and time.monotonic() < deadline:
                time.sleep(0.05)
            cut = daemon.stop(grace=0.5)
            assert cut == [(1, at("02:30"))]
            (run,) = w.runs(1)
            assert run["status"] == "failed" and "cut off" in run["error"]
            assert "slow.csv" not in server.files()
        with Ledger(w.settings.state.database_url) as ledger:
            assert ledger.claims.status(1, at("02:30")) == "failed"


def test_metrics_and_health(world):
    world.sandbox.feeds[1] = email_feed(1, 150)
    metrics = Metrics()
    daemon = world.daemon(metrics=metrics)
    daemon.hubs.default._on_request = metrics.hub_request
    world.wake(daemon, at("02:00"))
    world.wake(daemon, at("02:30"))
    server = serve(metrics, daemon.health, "127.0.0.1", 0)
    try:
        port = server.server_address[1]
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'feeds_runs_total{method="EMAIL",status="delivered",trigger="schedule"} 1.0' in text
        assert 'feeds_rows{feed_id="1"} 245.0' in text
        assert 'feeds_last_success_timestamp_seconds{feed_id="1"}' in text
        assert 'feeds_hub_requests_total{endpoint="/products",method="GET",status="200"} 1.0' in text
        assert "feeds_run_duration_seconds_bucket" in text
        health = httpx.get(f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        world.clock.now = at("04:00")  # no wake for 90 minutes: unhealthy
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 503
    finally:
        server.shutdown()


def test_metrics_are_restored_from_the_ledger_at_a_restart(world):
    """A restarted daemon (or another one of a fleet) knows every feed's last success: the 25-hour alert works."""
    world.sandbox.feeds[1] = email_feed(1, 150)
    world.sandbox.feeds[2] = {**email_feed(2, 150), "delivery_email": "not an address"}  # never delivered
    first = world.daemon()
    world.wake(first, at("02:00"))
    world.wake(first, at("02:30"))
    first.stop(0)
    metrics = Metrics()
    later = world.daemon(metrics=metrics)
    world.wake(later, at("04:00"))  # nothing due: the metrics come from the ledger
    (delivered,) = [r for r in world.runs(1) if r["status"] == "delivered"]
    ended = datetime.fromisoformat(delivered["ended_at"].replace("Z", "+00:00")).timestamp()

    def value(name: str, feed_id: int) -> float | None:
        return metrics.registry.get_sample_value(name, {"feed_id": str(feed_id)})

    assert value("feeds_last_success_timestamp_seconds", 1) == pytest.approx(ended)
    assert value("feeds_last_success_timestamp_seconds", 2) == at("02:00").timestamp()  # when it was first seen
    assert value("feeds_rows", 1) == 245


def test_a_run_by_hand_counts_for_its_slot_and_settles_a_run_a_stopped_process_left(world):
    """`feeds run` in a slot whose run was interrupted: the interrupted run is settled (not left "running"), the
    run by hand is the slot's delivery, and the daemon does not send the feed again in that slot."""
    import socket

    from feeds.errors import FeedsError
    from feeds.manual import run_by_hand

    now = datetime.now(timezone.utc)
    if slot_of(now) + timedelta(minutes=30) - now < timedelta(seconds=15):  # not across a slot's boundary
        time.sleep(16)
        now = datetime.now(timezone.utc)
    slot = slot_of(now)
    world.sandbox.feeds[1] = email_feed(1, slot.hour * 60 + slot.minute)
    lease = timedelta(minutes=25)
    env, hubs = wiring.run_environment(world.settings), as_hubs(HubClient(world.settings.hub, policy=FAST_HUB))
    with Ledger(world.settings.state.database_url) as ledger:
        assert ledger.claims.take(1, slot, lease)  # held by this process: alive
        with pytest.raises(FeedsError, match="being delivered by a daemon right now"):
            run_by_hand(env, hubs, ledger, 1, lease=lease)
        ledger.claims.settle(1, slot, "failed")
        assert ledger.claims.take(1, slot, lease, owner=f"{socket.gethostname()}:999999:gone").tries == 2
        interrupted = ledger.runs.start(1, "schedule", slot_start=slot)
        ledger.claims.attach_run(1, slot, interrupted)
        result = run_by_hand(env, hubs, ledger, 1, lease=lease)
        assert result.status == "delivered" and result.slot_start == slot
        assert ledger.claims.status(1, slot) == "delivered"
        runs = {run.run_id: run for run in ledger.runs.history(feed_id=1)}
        assert runs[interrupted].status == "failed" and "abandoned" in runs[interrupted].error
    daemon = world.daemon()
    assert world.wake(daemon, now) == [] and len(world.deliveries(1)) == 1


def test_health_counts_the_organisations_work_in_progress(world):
    """`running` in /healthz (and on the page) is the work the daemon's pool is doing, however it came."""
    world.sandbox.feeds[1] = email_feed(1, 150)
    daemon = world.daemon()
    world.wake(daemon, at("02:00"))
    world.sandbox.add_fault(Fault("delay", path="/products", seconds=1.5))
    world.clock.now = at("02:30")
    futures = daemon.wake(at("02:30"))
    deadline = time.monotonic() + 10
    while daemon.health()[1]["running"] != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert daemon.health()[1]["running"] == 1
    assert daemon.wait_idle(30) and [run.status for f in futures for run in f.result()] == ["delivered"]
    assert daemon.health()[1]["running"] == 0


def test_worker_processes_and_the_daemons_own_reads_share_one_hub_limit(tmp_path):
    """hub.concurrency bounds the whole daemon: its feed-list reads take places from the semaphore its worker
    processes share; at the stop, the clients get a limit of their own back (the shared one goes with them)."""
    sandbox = Sandbox(feeds={1: email_feed(1, 150)})
    with RunningSandbox(sandbox) as running:
        world = World(tmp_path, sandbox, running, schedule={"processes": 2})
        daemon = world.daemon()
        clients = [credentials.client for credentials in daemon.hubs.credentials]
        shared = daemon.pool.limiter
        try:
            assert shared is not None and all(client._limiter is shared for client in clients)
            world.wake(daemon, at("02:00"))
            (result,) = world.wake(daemon, at("02:30"))
            assert result.status == "delivered" and len(daemon.pool.pids()) == 2
        finally:
            daemon.stop(0)
        assert all(client._limiter is not None and client._limiter is not shared for client in clients)
