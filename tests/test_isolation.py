"""Tenant isolation (SPEC §11): one organisation's configuration never harms another, nor the operator.

Hostile servers run on 127.0.0.1 only. Tests that need them exempt loopback
with ``delivery.allow_networks``; the default rule is tested with that
exemption taken away. Private and link-local addresses are only ever refused:
those tests fail if a socket is even opened.
"""

from __future__ import annotations

import json
import logging
import resource
import socket
import subprocess
import threading
import time
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

import pytest

from feeds import wiring
from pydantic import SecretStr

from feeds import bounded, egress
from feeds.bounded import Bound, DeadlinePassed
from feeds.catalog import load_catalogue
from feeds.config import check_documents, check_feed
from feeds.hub import Hubs, open_hub
from feeds.hub.client import HubClient
from feeds.hub.sandbox import Catalogue, Fault, Organisation, RunningSandbox, Sandbox
from feeds.ledger import Ledger
from feeds.runner import run_feed
from feeds.wiring import load_settings as load

from conftest import BIN, REPO, two_organisations, write_settings
from delivery_helpers import BASE_FEED, ftp_feed, make_settings, run, sandbox_with, sitc_feed
from hostile import HostileServer, TricklingHub, endless, silent, trickle
from servers import FtpServer
from test_cli import invoke

NO_EXEMPTION = {"allow_networks": []}


def ftp_to(host: str, port: int, **extra) -> dict:
    return {**BASE_FEED, "delivery_method": "FTP", "delivery_procotol": "FTP", "delivery_server": host,
            "delivery_port": port, "delivery_user": "reseller", "delivery_password": "reseller-pass", **extra}


# --- egress ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["127.0.0.1", "localhost", "127.1", "2130706433", "0x7f000001", "::1", "[::1]",
                                      "::ffff:127.0.0.1"])
def test_every_spelling_of_loopback_is_refused_and_the_listener_sees_no_connection(tmp_path, spelling):
    with HostileServer(silent) as listener:
        settings = make_settings(tmp_path, delivery=NO_EXEMPTION)
        result, row, attempts = run(settings, sandbox_with(ftp_to(spelling, listener.port)))
        time.sleep(0.1)
        assert listener.connections == 0
    assert result.status == "failed" and "is in a denied network: loopback" in result.error, result.error
    assert "delivery.allow_networks" in result.error and len(attempts) == 1  # permanent: not retried


@pytest.fixture
def no_sockets(monkeypatch):
    """Fails the test if anything opens a connection: refusals must come before any socket."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a connection was attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("address, rule", [
    ("10.1.2.3", "private"), ("172.16.5.4", "private"), ("192.168.0.10", "private"), ("fd00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("100.64.0.1", "shared address space"),
    ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"),
])
def test_private_and_link_local_addresses_are_refused_before_any_socket(tmp_path, no_sockets, address, rule):
    settings = make_settings(tmp_path, delivery=NO_EXEMPTION)
    result, _, attempts = run(settings, sandbox_with(ftp_to(address, 21)))
    assert result.status == "failed" and f"denied network: {rule}" in result.error and len(attempts) == 1
    with pytest.raises(Exception, match=rule):
        egress.resolve(address, 22)


def test_allow_networks_exempts_a_network(no_sockets):
    assert egress.denied_by(egress.ipaddress.ip_address("10.0.0.5"), egress.parse_networks(["10.0.0.0/24"])) is None
    assert egress.denied_by(egress.ipaddress.ip_address("10.0.1.5"), egress.parse_networks(["10.0.0.0/24"]))


def test_the_operators_targets_are_exempt(tmp_path):
    root = tmp_path / "sftp"
    root.mkdir()
    from servers import SftpServer

    with SftpServer(root) as server:  # the [sitc] target is the operator's: loopback is fine there
        settings = make_settings(tmp_path, delivery=NO_EXEMPTION, sftp={"host_key_policy": "insecure"},
                                 sitc={"host": "127.0.0.1", "port": server.port, "username": server.user,
                                       "password": server.password, "directory": "/"})
        result, _, _ = run(settings, sandbox_with(sitc_feed()))
    assert result.status == "delivered", result.error


# --- time -------------------------------------------------------------------------------------------


def test_a_trickling_server_is_cut_at_the_run_deadline(tmp_path):
    with HostileServer(trickle(interval=0.2)) as server:
        settings = make_settings(tmp_path, delivery={"run_deadline_minutes": 0.04, "timeout": 2.0})
        started = time.monotonic()
        result, _, attempts = run(settings, sandbox_with(ftp_to("127.0.0.1", server.port)))
        elapsed = time.monotonic() - started
    assert result.status == "failed" and "delivery.run_deadline_minutes (0.04 min)" in result.error, result.error
    assert 2.3 <= elapsed < 6, elapsed  # 2.4 s deadline: the connection was cut, not waited out
    assert attempts[-1]["error"] and len(attempts) == 1  # no new attempt after the deadline


HUB_REQUESTS = {
    "token": lambda path, query: path == "/oauth/create_token",
    "vendors": lambda path, query: path == "/vendors",
    "first-page": lambda path, query: path == "/products" and "page=1&" in query + "&",
    "page-thread": lambda path, query: path == "/products" and "page=3&" in query + "&",
}


@pytest.mark.parametrize("request_name", list(HUB_REQUESTS))
def test_a_trickling_hub_is_cut_at_the_run_deadline(tmp_path, request_name):
    """Hub answers one byte every half second: a 2 s timeout never fires; the 3 s run deadline does."""
    feed = {**ftp_to("127.0.0.1", 21), "id": 1}
    hub = TricklingHub(Sandbox(feeds={1: feed}, catalogue=Catalogue(count=50, seed=3)), HUB_REQUESTS[request_name])
    settings = make_settings(tmp_path, delivery={"run_deadline_minutes": 0.05, "timeout": 2.0},
                             hub={"timeout": 2.0, "per_page": 10})
    with RunningSandbox(hub) as running, HubClient(settings.hub.model_copy(
            update={"base_url": running.base_url})) as client, Ledger(settings.state.database_url) as ledger:
        started = time.monotonic()
        result = run_feed(wiring.run_environment(settings), client, ledger, 1, raw=feed)  # the daemon's way
        elapsed = time.monotonic() - started
        row = ledger.runs.get(result.run_id)
        hub.closed.set()
    assert hub.trickled == 1  # the deadline is not worth another try
    assert result.status == "failed" and row.status == "failed", result.error
    assert result.error.startswith("cut off: the run passed delivery.run_deadline_minutes (0.05 min) waiting for "
                                   "Hub's answer to "), result.error
    assert 2.9 <= elapsed < 6, elapsed


def test_a_daemons_shared_catalogue_read_ends_at_the_first_runs_deadline(tmp_path):
    feeds = {i: {**ftp_to("127.0.0.1", 21), "id": i, "name": f"feed {i}"} for i in (1, 2, 3)}
    hub = TricklingHub(Sandbox(feeds=feeds), lambda path, query: path == "/products")
    settings = make_settings(tmp_path, delivery={"run_deadline_minutes": 0.05}, hub={"timeout": 2.0},
                             schedule={"max_parallel": 2})
    now = datetime(2026, 11, 26, 2, 30, tzinfo=timezone.utc)
    with RunningSandbox(hub) as running, HubClient(settings.hub.model_copy(
            update={"base_url": running.base_url})) as client, Ledger(settings.state.database_url) as ledger:
        daemon = wiring.daemon(settings, Hubs.of(client), ledger, clock=lambda: now)
        started = time.monotonic()
        results = [run for future in daemon.wake(now) for run in future.result(timeout=30)]
        elapsed = time.monotonic() - started
        daemon.stop(0)
        hub.closed.set()
    assert [r.status for r in results] == ["failed"] * 3 and hub.trickled == 1  # read once for the organisation
    assert all("delivery.run_deadline_minutes (0.05 min)" in r.error for r in results), results[0].error
    assert elapsed < 6, elapsed


def test_a_trickling_hub_cuts_the_configuration_read_at_the_run_deadline(tmp_path):
    hub = TricklingHub(Sandbox(feeds={1: {**ftp_to("127.0.0.1", 21), "id": 1}}),
                       lambda path, query: path == "/feeds/1")
    settings = make_settings(tmp_path, delivery={"run_deadline_minutes": 0.05}, hub={"timeout": 2.0})
    with RunningSandbox(hub) as running, HubClient(settings.hub.model_copy(
            update={"base_url": running.base_url})) as client, Ledger(settings.state.database_url) as ledger:
        started = time.monotonic()
        with pytest.raises(DeadlinePassed, match=r"delivery.run_deadline_minutes \(0.05 min\) waiting for Hub's "
                                                 r"answer to GET /feeds/1"):
            run_feed(wiring.run_environment(settings), client, ledger, 1)
        hub.closed.set()
    assert time.monotonic() - started < 6


def test_a_catalogue_read_can_be_given_its_own_deadline(tmp_path):
    hub = TricklingHub(Sandbox(feeds={}), lambda path, query: path == "/products")
    settings = make_settings(tmp_path, hub={"timeout": 2.0})
    with RunningSandbox(hub) as running, HubClient(settings.hub.model_copy(
            update={"base_url": running.base_url})) as client:
        started = time.monotonic()
        with pytest.raises(DeadlinePassed, match="the nightly read passed its 1 s"):
            load_catalogue(client, deadline=Bound.after(1.0, "the nightly read passed its 1 s"))
        assert time.monotonic() - started < 3
        hub.slow = lambda path, query: False
        assert len(load_catalogue(client).records) > 200  # no deadline left behind: the next read is whole


def test_a_retry_after_longer_than_the_run_deadline_ends_at_the_deadline(tmp_path):
    """Hub asks every worker to pause 300 s: the pause still holds for all, but this run ends at its deadline."""
    feed = {**ftp_to("127.0.0.1", 21), "id": 1}
    sandbox = Sandbox(feeds={1: feed})
    sandbox.faults.append(Fault("status", status=429, retry_after=300))
    settings = make_settings(tmp_path, delivery={"run_deadline_minutes": 0.02})
    with open_hub(settings.hub, sandbox=sandbox) as hub, Ledger(settings.state.database_url) as ledger:
        started = time.monotonic()
        result = run_feed(wiring.run_environment(settings), hub, ledger, 1, raw=feed)
        elapsed = time.monotonic() - started
        still_held = hub.throttle._resume_at - time.monotonic()
    assert result.status == "failed" and "delivery.run_deadline_minutes (0.02 min)" in result.error, result.error
    assert 1.1 <= elapsed < 4 and still_held > 250


def test_waiting_for_a_free_hub_slot_ends_at_the_deadline():
    slots = threading.BoundedSemaphore(1)
    slots.acquire()  # hub.concurrency requests in flight already
    started = time.monotonic()
    with bounded.within(Bound.after(0.5, "the run passed its test deadline")):
        with pytest.raises(DeadlinePassed, match="its test deadline"):
            with bounded.acquired(slots):
                pass
    assert 0.4 <= time.monotonic() - started < 2
    threading.Timer(0.2, slots.release).start()
    with bounded.acquired(slots):  # without a deadline: waits for the slot, however long
        pass


def test_one_organisations_stalls_do_not_delay_anothers_deliveries(tmp_path):
    """Two organisations in one slot; the first's servers stall every run until the deadline (2.4 s).

    Each organisation's work holds one of the daemon's places, so the second's files go out at once whatever the
    first's servers do; within an organisation, at most ``max_parallel_per_organisation`` feeds run at once.
    """
    root = tmp_path / "ftp"
    root.mkdir()
    with HostileServer(trickle(interval=0.2)) as stall, FtpServer(root) as good:
        finished = {per_org: deliveries_in_a_slot(tmp_path / f"cap{per_org}", stall, good, per_org)
                    for per_org in (1, 2)}
    for per_org, (slow, fast) in finished.items():
        assert max(fast) < 2.0 <= min(slow), finished  # the second organisation does not wait for the stalls
    one_at_a_time, two_at_a_time = sorted(finished[1][0]), sorted(finished[2][0])
    assert one_at_a_time[1] >= 4.5 and one_at_a_time[2] >= 7.0  # one after another
    assert two_at_a_time[1] < 4.5 <= two_at_a_time[2]  # two at once, then the third


def deliveries_in_a_slot(tmp_path: Path, stall: HostileServer, good: FtpServer, per_org: int):
    sandbox = Sandbox(feeds={})
    sandbox.add_organisation(Organisation(2, "Second", 1, Catalogue(count=50, seed=2)), "second", "second-secret")
    for feed_id in (1, 2, 3):
        sandbox.feeds[feed_id] = {**ftp_to("127.0.0.1", stall.port), "id": feed_id, "name": f"stalled {feed_id}"}
    for feed_id in (4, 5):
        sandbox.feeds[feed_id] = {**ftp_feed(good, filename=f"f{feed_id}.csv"), "id": feed_id, "organisation": 2,
                                  "name": f"second {feed_id}"}
    for feed in sandbox.feeds.values():
        feed["timeslot"] = 150
    settings = make_settings(tmp_path, delivery={"run_deadline_minutes": 0.04, "timeout": 2.0},
                             schedule={"max_parallel": 2, "max_parallel_per_organisation": per_org})
    now = datetime(2026, 11, 26, 2, 30, tzinfo=timezone.utc)
    with RunningSandbox(sandbox) as running:
        hub = settings.hub.model_copy(update={"base_url": running.base_url})
        second = hub.model_copy(update={"client_id": "second", "client_secret": SecretStr("second-secret")})
        with Hubs.of(HubClient(hub), HubClient(second)) as hubs, Ledger(settings.state.database_url) as ledger:
            daemon = wiring.daemon(settings, hubs, ledger, clock=lambda: now)
            started = datetime.now(timezone.utc)
            futures = daemon.wake(now)
            done = {}
            for future in futures:
                for result in future.result(timeout=60):
                    done[result.feed_id] = (result, (result.ended_at - started).total_seconds())
            daemon.stop(0)
    assert [done[i][0].status for i in (1, 2, 3, 4, 5)] == ["failed"] * 3 + ["delivered"] * 2
    return [done[i][1] for i in (1, 2, 3)], [done[i][1] for i in (4, 5)]


# --- memory ------------------------------------------------------------------------------------------


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("protocol, line", [
    ("FTP", b"220-" + b"x" * 1000 + b"\r\n"),
    ("SFTP", b"banner " + b"x" * 1000 + b"\r\n"),
])
def test_a_reply_that_never_ends_fails_with_memory_bounded(tmp_path, protocol, line):
    before = peak_mb()
    with HostileServer(endless(line)) as server:
        settings = make_settings(tmp_path, delivery={"timeout": 5.0, "attempts": 1})
        started = time.monotonic()
        result, _, _ = run(settings, sandbox_with(ftp_to("127.0.0.1", server.port, delivery_procotol=protocol)))
        elapsed = time.monotonic() - started
    assert result.status == "failed" and "reply went past 64 KB" in result.error, result.error
    assert elapsed < 5 and peak_mb() - before < 50


def test_a_mail_servers_endless_greeting_fails_with_memory_bounded(tmp_path):
    before = peak_mb()
    with HostileServer(endless(b"220-" + b"x" * 1000 + b"\r\n")) as server:
        settings = make_settings(tmp_path, smtp={"host": "127.0.0.1", "port": server.port, "security": "none",
                                                 "timeout": 5.0}, delivery={"attempts": 1})
        result, _, _ = run(settings, sandbox_with({**BASE_FEED, "delivery_method": "EMAIL",
                                                   "delivery_email": "r@example.com"}))
    assert result.status == "failed" and "reply went past 64 KB" in result.error, result.error
    assert peak_mb() - before < 50


def test_a_stalled_ssh_banner_is_a_transient_failure_and_retried(tmp_path):
    with HostileServer(silent) as server:
        settings = make_settings(tmp_path, delivery={"timeout": 0.5, "attempts": 2})
        result, _, attempts = run(settings, sandbox_with(ftp_to("127.0.0.1", server.port, delivery_procotol="SFTP")))
    assert result.status == "failed" and "unexpected" not in result.error and len(attempts) == 2, result.error
    assert "gave up after 2 attempts" in result.error


# --- names ---------------------------------------------------------------------------------------------


def test_a_sitc_file_name_belongs_to_the_first_organisation_that_delivered_it(tmp_path):
    settings = make_settings(tmp_path, delivery={"outbox": str(tmp_path / "outbox")},
                             sitc={"host": "sitc.example.com"})
    sandbox = Sandbox.from_samples()
    sandbox.feeds = {1: {**sitc_feed(sitc_filename="Stock.csv"), "id": 1, "organisation": 1},
                     2: {**sitc_feed(sitc_filename="Stock.csv"), "id": 2, "organisation": 2},
                     3: {**sitc_feed(sitc_filename="Other.csv"), "id": 3, "organisation": 2}}
    reseller = settings.hub.model_copy(update={"client_id": "reseller", "client_secret": SecretStr("reseller-secret")})
    with open_hub(settings.hub, sandbox=sandbox) as first, open_hub(reseller, sandbox=sandbox) as second, \
            Hubs.of(first, second) as hubs, Ledger(settings.state.database_url) as ledger:
        results = [run_feed(wiring.run_environment(settings), hubs, ledger, feed_id) for feed_id in (1, 2, 3, 1)]
    assert [r.status for r in results] == ["delivered", "failed", "delivered", "delivered"]
    assert "'Stock.csv' belongs to organisation 1" in results[1].error
    journal = (tmp_path / "outbox" / "2")
    assert not journal.exists()  # nothing went out for the second organisation's feed


def test_names_with_markup_are_shown_as_text(tmp_path, hub_server, sandbox):
    sandbox.feeds[1]["name"] = "Prices [/] Q4"
    sandbox.feeds[2]["name"] = "[link=https://evil.example]click me[/link]"
    sandbox.feeds[3]["name"] = "[bold red]shouting"
    conf = write_settings(tmp_path / "feeds.toml", two_organisations(hub_server.base_url))
    listed = invoke("--config", str(conf), "list")
    assert listed.exit_code == 0, listed.output
    for name in ("Prices [/] Q4", "[link=https://evil.example]click me[/link]", "[bold red]shouting"):
        assert name in listed.output
    shown = invoke("--config", str(conf), "show", "2")
    assert shown.exit_code == 0 and "[link=https://evil.example]click me[/link]" in shown.output


@pytest.mark.parametrize("name", ["con.csv", "NUL", "C:x.csv", "stock\u202egsc.exe", "lpt1.txt", "stock.csv."])
def test_windows_reserved_and_bidirectional_names_are_refused(name):
    check = check_feed({**sitc_feed(), "sitc_filename": name})
    assert not check.ok and check.errors[0].path == "sitc_filename"


def test_a_file_name_of_255_bytes_is_delivered_and_archived(tmp_path):
    name = "S" * 251 + ".csv"
    settings = make_settings(tmp_path, delivery={"outbox": str(tmp_path / "outbox")},
                             sitc={"host": "sitc.example.com"})
    result, row, _ = run(settings, sandbox_with(sitc_feed(sitc_filename=name)))
    assert result.status == "delivered" and (tmp_path / "outbox" / "1" / name).exists()
    archived = Path(row["archive_path"])
    assert archived.exists() and len(archived.name.encode()) == 255 and archived.name.endswith("~.csv")


# --- hostile documents (their time and memory: benchmarks/hostile_documents.py) -------------------


def test_a_document_of_more_than_a_thousand_feeds_is_one_error():
    (checks,) = check_documents([("f", [{}] * 1001)])
    assert len(checks) == 1 and "holds 1001 feeds" in str(checks[0].errors[0])


def test_at_most_a_thousand_problems_are_listed_per_file(tmp_path):
    path = tmp_path / "many.json"
    path.write_text(json.dumps([{f"unknown{i}": 1 for i in range(600)} for _ in range(3)]))
    result = invoke("validate", "--json", str(path))
    (report,) = json.loads(result.output)
    assert len(report["errors"]) + len(report["warnings"]) == 1000 and report["not_listed"] >= 1
    text = invoke("validate", str(path)).output
    assert text.count("\n  ") == 1001 and "more problems, not listed" in text
    # Past the document's budget, a feed's unknown fields are counted in one line, not one problem each.
    (checks,) = check_documents([("many", [{f"unknown{i}": 1 for i in range(50)} for _ in range(100)])])
    assert [len(c.warnings) for c in checks[19:22]] == [50, 1, 1]
    assert checks[-1].warnings[0].message.startswith("has 50 more fields")


def test_long_values_get_no_suggestion():
    check = check_feed({**sitc_feed(), "delimiter": "COMMA" + "A" * 5000})
    assert check.errors and "did you mean" not in str(check.errors[0])
    check = check_feed({**sitc_feed(), "delimeter" + "x" * 200: 1})
    assert "did you mean" not in str(check.warnings[0])


# --- local files and plain text ------------------------------------------------------------------------


def test_state_files_are_the_owners_alone_whatever_the_umask(tmp_path):
    conf = write_settings(tmp_path / "feeds.toml", f"""
[hub]
base_url = "sandbox"
client_id = "sandbox"
client_secret = "sandbox-secret"
[sitc]
host = "sitc.example.com"
[delivery]
outbox = "{tmp_path / 'outbox'}"
[state]
database = "{tmp_path / 'state' / 'feeds.db'}"
""")
    done = subprocess.run(["sh", "-c", f"umask 022 && exec {BIN / 'feeds'} --config {conf} run --id 3"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    written = [p for folder in (tmp_path / "state", tmp_path / "outbox") for p in [folder, *folder.rglob("*")]]
    assert len(written) > 6
    for path in written:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path} is {oct(mode)}"


def test_plain_text_on_the_wire_is_said_at_start(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="feeds.settings")
    conf = write_settings(tmp_path / "f.toml", '[hub]\nbase_url = "http://hub.example.com/api/v1"\n'
                                               '[smtp]\nsecurity = "none"\nusername = "mailer"\n')
    load(str(conf), {})
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "hub.base_url is plain http" in said and 'smtp.security is "none" with smtp.username' in said
    caplog.clear()
    load(str(write_settings(tmp_path / "g.toml", '[hub]\nbase_url = "http://127.0.0.1:8000/api/v1"\n')), {})
    assert not caplog.records  # the sandbox on loopback is not the wire


def test_the_readme_records_the_formula_decision():
    readme = (REPO / "README.md").read_text()
    assert "formula" in readme and "`=`" in readme


def test_a_sitc_file_name_in_another_case_or_unicode_form_is_the_same_name(tmp_path):
    settings = make_settings(tmp_path, delivery={"outbox": str(tmp_path / "outbox")},
                             sitc={"host": "sitc.example.com"})
    sandbox = Sandbox.from_samples()
    names = ["Stöck.csv", "STÖCK.CSV", "stöck.csv", unicodedata.normalize("NFD", "Stöck.csv")]
    sandbox.feeds = {i: {**sitc_feed(sitc_filename=name), "id": i, "organisation": 1 if i == 1 else 2}
                     for i, name in enumerate(names, start=1)}
    reseller = settings.hub.model_copy(update={"client_id": "reseller", "client_secret": SecretStr("reseller-secret")})
    with open_hub(settings.hub, sandbox=sandbox) as first, open_hub(reseller, sandbox=sandbox) as second, \
            Hubs.of(first, second) as hubs, Ledger(settings.state.database_url) as ledger:
        results = [run_feed(wiring.run_environment(settings), hubs, ledger, feed_id) for feed_id in (1, 2, 3, 4)]
    assert [r.status for r in results] == ["delivered", "failed", "failed", "failed"], [r.error for r in results]
    assert all("belongs to organisation 1" in r.error for r in results[1:])
    assert not (tmp_path / "outbox" / "2").exists() and not (tmp_path / "outbox" / "3").exists()
