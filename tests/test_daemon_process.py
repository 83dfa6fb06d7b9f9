"""Real `feeds daemon` processes against a real `feeds sandbox` process."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import datetime, timezone

import httpx
import pytest

from processes import FEEDS, DaemonProcess, current_slot, history, settings_for, upload, wait_for
from processes import sandbox_process as start_sandbox
from servers import FtpServer, free_port

@pytest.fixture
def sandbox_process():
    with start_sandbox() as base:
        yield base


def test_a_real_daemon_delivers_once_survives_sigterm_and_restart_and_serves_metrics(tmp_path, sandbox_process):
    conf = settings_for(tmp_path, sandbox_process)
    slot = current_slot()
    feed_id = upload(conf, {"organisation": 1, "name": "Due now", "timeslot": slot, "columns": ["name", "price"],
                            "delivery_method": "EMAIL", "delivery_email": "now@example.com"}, tmp_path)
    journal = tmp_path / "outbox" / str(feed_id) / "deliveries.jsonl"
    metrics_port = free_port()
    first = DaemonProcess(conf, tmp_path / "daemon.log", metrics_port)
    wait_for(lambda: journal.exists() and journal.read_text().count("\n") == 1, what="the delivery")
    health = wait_for(lambda: httpx.get(f"http://127.0.0.1:{metrics_port}/healthz"), what="healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    # the file lands in the outbox a moment before the run is recorded and counted
    delivered = 'feeds_runs_total{method="EMAIL",status="delivered",trigger="schedule"} 1.0'
    wait_for(lambda: delivered in httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text, what="the metric")
    assert first.stop(signal.SIGTERM) == 0
    assert "received SIGTERM" in first.text() and "feeds daemon stopped" in first.text()

    second = DaemonProcess(conf, tmp_path / "daemon2.log")
    wait_for(lambda: "nothing due" in second.text() or "due" in second.text(), what="the restart's wake")
    time.sleep(1)
    assert second.stop(signal.SIGINT) == 0
    assert journal.read_text().count("\n") == 1
    runs = [r for r in history(conf) if r["feed_id"] == feed_id]
    assert len(runs) == 1 and runs[0]["status"] == "delivered" and runs[0]["trigger"] == "schedule"
    assert runs[0]["slot_start"].startswith(datetime.now(timezone.utc).strftime("%Y-%m-%d"))


def test_sigkill_during_an_upload_then_restart_delivers_exactly_once(tmp_path, sandbox_process):
    root = tmp_path / "ftp"
    root.mkdir()
    with FtpServer(root) as server:
        server.faults.stall = 0.5
        conf = settings_for(tmp_path, sandbox_process, outbox=False)
        slot = current_slot()
        feed_id = upload(conf, {"organisation": 2, "name": "Killed", "timeslot": slot, "columns": ["name"],
                                "delivery_method": "FTP", "delivery_procotol": "FTP", "delivery_server": "127.0.0.1",
                                "delivery_port": server.port, "delivery_user": server.user,
                                "delivery_password": server.password, "filename": "stock.csv"}, tmp_path)
        first = DaemonProcess(conf, tmp_path / "daemon.log")
        wait_for(lambda: "STOR" in server.commands, what="the upload to start")
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        assert "stock.csv" not in server.files()
        server.faults.stall = 0.0

        second = DaemonProcess(conf, tmp_path / "daemon2.log")
        wait_for(lambda: "stock.csv" in server.files(), what="the retried delivery")
        wait_for(lambda: any(r["status"] == "delivered" for r in history(conf) if r["feed_id"] == feed_id),
                 what="the ledger")
        assert second.stop() == 0
        files = server.files()
        assert list(files) == ["stock.csv"]  # the temporary file of the killed upload is gone too
        assert server.commands.count("RNTO") == 1
        runs = sorted((r for r in history(conf) if r["feed_id"] == feed_id), key=lambda r: r["run_id"])
        assert [r["status"] for r in runs] == ["failed", "delivered"]
        assert "abandoned" in runs[0]["error"]
        assert runs[0]["sha256"] == runs[1]["sha256"] or runs[0]["sha256"] is None


def test_two_daemon_processes_on_one_ledger_deliver_each_feed_once(tmp_path, sandbox_process):
    conf = settings_for(tmp_path, sandbox_process)
    slot = current_slot()
    ids = [upload(conf, {"organisation": 1 + i % 2, "name": f"Shared {i}", "timeslot": slot, "columns": ["name"],
                         "delivery_method": "EMAIL", "delivery_email": f"s{i}@example.com"}, tmp_path)
           for i in range(8)]
    daemons = [DaemonProcess(conf, tmp_path / f"daemon{i}.log") for i in range(2)]
    journals = [tmp_path / "outbox" / str(i) / "deliveries.jsonl" for i in ids]
    wait_for(lambda: all(j.exists() for j in journals), what="all deliveries")
    time.sleep(1.5)
    assert all(d.stop() == 0 for d in daemons)
    assert [j.read_text().count("\n") for j in journals] == [1] * 8
    runs = [r for r in history(conf) if r["feed_id"] in ids]
    assert len(runs) == 8 and all(r["status"] == "delivered" for r in runs)


def test_json_log_lines(tmp_path, sandbox_process):
    conf = settings_for(tmp_path, sandbox_process)
    done = subprocess.run([FEEDS, "-v", "--log-format", "json", "--config", str(conf), "run", "--id", "1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("{")]
    assert lines
    records = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"] == "feeds.run" and "delivered" in r["message"] for r in records)


def test_a_daemon_beside_runs_by_hand_sends_each_feed_once(tmp_path, sandbox_process):
    """Real processes: a run by hand in the slot is the slot's delivery (a daemon started after it does not send
    the feed again), and a run by hand while a daemon delivers the feed is refused, naming the slot."""
    root = tmp_path / "ftp"
    root.mkdir()
    with FtpServer(root) as server:
        conf = settings_for(tmp_path, sandbox_process, outbox=False)
        slot = current_slot()
        ftp = {"timeslot": slot, "columns": ["name"], "delivery_method": "FTP", "delivery_procotol": "FTP",
               "delivery_server": "127.0.0.1", "delivery_port": server.port, "delivery_user": server.user,
               "delivery_password": server.password}
        by_hand = upload(conf, {**ftp, "organisation": 1, "name": "By hand", "filename": "hand.csv"}, tmp_path)
        busy = upload(conf, {**ftp, "organisation": 2, "name": "Busy", "filename": "stock.csv"}, tmp_path)
        done = subprocess.run([FEEDS, "--config", str(conf), "run", "--id", str(by_hand)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert server.commands.count("RNTO") == 1
        server.faults.stall = 0.5
        daemon = DaemonProcess(conf, tmp_path / "daemon.log")
        wait_for(lambda: "STOR" in server.commands[server.commands.index("RNTO") + 1:], what="the daemon's upload")
        refused = subprocess.run([FEEDS, "--config", str(conf), "run", "--id", str(busy)],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "being delivered by a daemon right now" in refused.stderr
        server.faults.stall = 0.0
        wait_for(lambda: any(r["status"] == "delivered" for r in history(conf) if r["feed_id"] == busy),
                 what="the daemon's delivery")
        assert daemon.stop() == 0
        assert server.commands.count("RNTO") == 2 and sorted(server.files()) == ["hand.csv", "stock.csv"]
    runs = [r for r in history(conf) if r["feed_id"] == by_hand]
    assert [(r["trigger"], r["status"]) for r in runs] == [("manual", "delivered")] and runs[0]["slot_start"]
    assert [r["trigger"] for r in history(conf) if r["feed_id"] == busy] == ["schedule"]
