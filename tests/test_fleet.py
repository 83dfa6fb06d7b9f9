"""A fleet of daemons on one real PostgreSQL (SPEC §14): real processes, SIGKILL and SIGTERM.

The Hub sandbox serves many organisations, each with its own credentials and
catalogue; every feed uploads to a real FTP server on 127.0.0.1 that is slow
on purpose, so that the slot's work takes long enough to kill a daemon in the
middle of it. What is checked is what an operator relies on: every feed is
delivered exactly once, each organisation's catalogue is read once in the
slot (except an organisation the killed daemon had started), the work spreads
over the daemons, and a stopped daemon's work goes to the others.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

from feeds.hub.sandbox import Catalogue, Organisation, RunningSandbox, Sandbox

from conftest import write_settings
from processes import DaemonProcess, current_slot, history, wait_for
from servers import FtpServer

ORGANISATIONS = 10
FEEDS_PER_ORGANISATION = 3


def fleet_sandbox(server: FtpServer, slot: int, organisations: int = ORGANISATIONS) -> Sandbox:
    sandbox = Sandbox(feeds={}, clients={})
    for org in range(1, organisations + 1):
        sandbox.add_organisation(Organisation(org, f"Organisation {org}", None if org == 1 else 1,
                                              Catalogue(count=1500, seed=org)), f"org-{org}", f"org-{org}-secret")
        for n in range(FEEDS_PER_ORGANISATION):
            feed_id = len(sandbox.feeds) + 1
            sandbox.feeds[feed_id] = {
                "id": feed_id, "organisation": org, "name": f"org {org} feed {n}", "timeslot": slot,
                "columns": ["name", "stock", "price"], "delivery_method": "FTP", "delivery_procotol": "FTP",
                "delivery_server": "127.0.0.1", "delivery_port": server.port, "delivery_user": server.user,
                "delivery_password": server.password, "filename": f"org{org}-feed{n}.csv"}
    return sandbox


def fleet_settings(tmp_path: Path, base: str, database: str, takeover: float, organisations: int = ORGANISATIONS,
                   **schedule: object) -> Path:
    tables = "".join(f'[organisations.{org}]\nclient_id = "org-{org}"\nclient_secret = "org-{org}-secret"\n'
                     for org in range(2, organisations + 1))
    extra = "".join(f"{key} = {value}\n" for key, value in schedule.items())
    return write_settings(tmp_path / "feeds.toml", f"""
[hub]
base_url = "{base}"
client_id = "org-1"
client_secret = "org-1-secret"
{tables}
[delivery]
allow_networks = ["127.0.0.0/8"]
retry_wait = 0
timeout = 20
[schedule]
max_parallel = 2
max_parallel_per_organisation = 1
processes = 1
takeover_seconds = {takeover}
shutdown_grace = 20
{extra}
[state]
database = "{database}"
archive_dir = "{tmp_path / 'archive'}"
""")


def worker_of(daemon: DaemonProcess) -> str:
    return f"{socket.gethostname()}:{daemon.process.pid}"


@pytest.fixture
def ftp(tmp_path):
    root = tmp_path / "ftp"
    root.mkdir()
    with FtpServer(root) as server:
        yield server


def test_a_daemon_killed_mid_slot_has_its_work_taken_over_and_every_feed_goes_out_once(tmp_path, postgres, ftp):
    takeover = 6.0
    slot = current_slot()
    sandbox = fleet_sandbox(ftp, slot)
    feeds = len(sandbox.feeds)
    ftp.faults.stall = 0.4  # each upload takes a second or so: the slot lasts long enough to kill a daemon in it
    with RunningSandbox(sandbox) as running:
        conf = fleet_settings(tmp_path, running.base_url, postgres.new_database(), takeover)
        daemons = [DaemonProcess(conf, tmp_path / f"daemon{i}.log") for i in range(3)]
        wait_for(lambda: sum(1 for n in ftp.names if n.endswith(".csv")) >= 4, timeout=90,
                 what="the first deliveries")

        def busy() -> DaemonProcess | None:
            running = {r["worker"] for r in history(conf) if r["status"] == "running"}
            return next((d for d in daemons if worker_of(d) in running), None)

        victim = wait_for(busy, timeout=60, what="a daemon in the middle of a delivery")
        killed_at = time.monotonic()
        assert victim.stop(signal.SIGKILL) == -signal.SIGKILL
        survivors = [d for d in daemons if d is not victim]
        wait_for(lambda: len(set(n for n in ftp.names if n.endswith(".csv") and not n.startswith(".")))
                 == feeds, timeout=takeover + 120, what="every feed delivered")
        finished_after = time.monotonic() - killed_at
        time.sleep(1.5)  # nothing more arrives
        for daemon in survivors:
            assert daemon.stop() == 0
    renames = Counter(name for name in ftp.names if not name.startswith(".feeds-"))
    assert len(renames) == feeds and set(renames.values()) == {1}, renames  # every feed delivered exactly once
    assert set(ftp.files()) == {f"org{o}-feed{n}.csv" for o in range(1, ORGANISATIONS + 1)
                                for n in range(FEEDS_PER_ORGANISATION)}  # and no temporary file left
    runs = history(conf)
    delivered = [r for r in runs if r["status"] == "delivered"]
    assert sorted(r["feed_id"] for r in delivered) == list(range(1, feeds + 1))
    started_by_victim = {r["organisation"] for r in runs if r["worker"] == worker_of(victim)}
    taken_over = {r["organisation"] for r in delivered if r["worker"] != worker_of(victim)} & started_by_victim
    assert taken_over, "the survivors finished what the killed daemon had started"
    assert finished_after < takeover + 120
    reads = sandbox.recorded.catalogue_reads
    read_twice = {org for org in range(1, ORGANISATIONS + 1) if reads[org] != 1}
    assert read_twice <= started_by_victim, reads  # once per slot, but for the killed daemon's organisations
    assert all(reads[org] >= 1 for org in range(1, ORGANISATIONS + 1))
    workers = Counter(r["worker"] for r in delivered)
    assert len(workers) >= 2, workers  # the work spread over the daemons
    assert not any(r["status"] == "running" for r in runs)


def test_sigterm_hands_a_daemons_unstarted_work_to_the_others_at_once(tmp_path, postgres, ftp):
    takeover = 60.0  # long: what goes over must go at once, not after the takeover time
    slot = current_slot()
    sandbox = fleet_sandbox(ftp, slot, organisations=4)
    feeds = len(sandbox.feeds)
    ftp.faults.stall = 0.5
    with RunningSandbox(sandbox) as running:
        conf = fleet_settings(tmp_path, running.base_url, postgres.new_database(), takeover, organisations=4)
        first = DaemonProcess(conf, tmp_path / "first.log")
        wait_for(lambda: any(r["status"] == "running" for r in history(conf)), timeout=60, what="work to start")
        second = DaemonProcess(conf, tmp_path / "second.log")
        wait_for(lambda: "started" in second.text(), timeout=60, what="the second daemon")
        time.sleep(1.0)
        stopped_at = time.monotonic()
        assert first.stop(signal.SIGTERM, timeout=60) == 0
        wait_for(lambda: len(set(n for n in ftp.names if n.endswith(".csv") and not n.startswith(".")))
                 == feeds, timeout=takeover, what="every feed delivered by the second daemon")
        finished_after = time.monotonic() - stopped_at
        assert second.stop() == 0
    assert finished_after < takeover  # handed over at once, not taken over after the takeover time
    renames = Counter(name for name in ftp.names if not name.startswith(".feeds-"))
    assert set(renames.values()) == {1} and len(renames) == feeds
    runs = history(conf)
    by_first = {r["feed_id"] for r in runs if r["worker"] == worker_of(first) and r["status"] == "delivered"}
    by_second = {r["feed_id"] for r in runs if r["worker"] == worker_of(second) and r["status"] == "delivered"}
    assert by_first and by_second and by_first | by_second == set(range(1, feeds + 1))
    assert "handed back to the fleet" in first.text()
    assert not any(r["status"] == "running" for r in runs)


def test_the_fleet_shows_in_metrics_and_in_history(tmp_path, postgres, ftp):
    from servers import free_port

    import httpx

    slot = current_slot()
    sandbox = fleet_sandbox(ftp, slot, organisations=2)
    with RunningSandbox(sandbox) as running:
        conf = fleet_settings(tmp_path, running.base_url, postgres.new_database(), 10.0, organisations=2)
        port = free_port()
        daemon = DaemonProcess(conf, tmp_path / "daemon.log", port)
        wait_for(lambda: len([r for r in history(conf) if r["status"] == "delivered"]) == len(sandbox.feeds),
                 timeout=90, what="the deliveries")
        metrics = wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/metrics").text, what="metrics")
        assert daemon.stop() == 0
    assert "feeds_queue_depth 0.0" in metrics and "feeds_daemons_alive 1.0" in metrics
    assert 'feeds_organisation_work_total{outcome="done"} 2.0' in metrics
    runs = history(conf)
    assert {r["worker"] for r in runs} == {worker_of(daemon)}
    shown = json.dumps(runs)
    assert "org-1-secret" not in shown and ftp.password not in shown
