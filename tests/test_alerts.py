"""Alerts off the workers' path (SPEC §11 Time, §12): a slow or endless receiver costs an alert its deadline,
never a feed's worker, the process's memory, or the alert itself after a restart.

Receivers are hostile servers on 127.0.0.1 (``hostile.py``) or the webhook of ``test_guard``.
"""

from __future__ import annotations

import email
import email.policy
import logging
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from feeds import alerts, wiring
from feeds.bounded import Bound, ReplyTooLong
from feeds.deliver.limits import REPLY_CAP
from feeds.hub import as_hubs, open_hub
from feeds.ledger import Ledger
from feeds.runner import RunResult

from delivery_helpers import BASE_FEED, make_settings, sandbox_with
from hostile import HostileServer, endless_after, trickle
from servers import SmtpServer, free_port
from test_guard import Webhook, certs_folder  # noqa: F401 (the fixture)
from test_ledger import url  # noqa: F401 (the SQLite and PostgreSQL ledger fixture)


def failed_run(feed_id: int = 1) -> RunResult:
    return RunResult(feed_id, f"feed {feed_id}", "manual", status="failed", error="the server said no", run_id=7,
                     organisation=1)


def settle(ledger: Ledger, settings, result: RunResult, drain: float = 20.0) -> tuple[bool, float, float]:
    """Hand ``result`` to a fresh sender: (drained, seconds after_run took, seconds the drain took)."""
    sender = wiring.alerts(settings)
    started = time.monotonic()
    assert sender.after_run(ledger, result) == "failed"
    handed_over = time.monotonic() - started
    drained = sender.close(drain)
    return drained, handed_over, time.monotonic() - started - handed_over


# --- a slow receiver ---------------------------------------------------------------------------------------


def test_a_webhook_that_trickles_header_bytes_gives_up_within_its_deadline(tmp_path, caplog):
    """One header byte every 0.3 s: httpx's per-read timeout never fires; the 1 s deadline of each try does."""
    with HostileServer(trickle(first=b"H", interval=0.3)) as hook:
        settings = make_settings(tmp_path, alerts={"webhook": f"http://127.0.0.1:{hook.port}/hook"},
                                 delivery={"timeout": 1.0})
        with Ledger(settings.state.database_url) as ledger:
            drained, handed_over, drain = settle(ledger, settings, failed_run())
            outcomes = ledger.alerts.outcomes()
    assert drained and outcomes == [("failed", "webhook", "given up")]
    assert hook.connections == 3  # retry.ALERTS: three tries, each cut at its deadline
    assert drain < 3 * 1.0 + 2 * 1.0 + 3  # three 1 s tries and two 1 s pauses, not the trickle's pace
    assert handed_over < 1.0  # the caller (a feed's worker) did not wait for any of it
    assert "could not be sent (cut off: the alert passed its deadline (1 s))" in caplog.text


def test_due_feeds_all_run_while_the_webhook_hangs(tmp_path):
    """Two workers, five due feeds that each alert, a webhook that never answers: every feed still runs."""
    with HostileServer(trickle(first=b"H", interval=0.3)) as hook:
        feeds = [{**BASE_FEED, "name": f"feed {i}", "delivery_method": "EMAIL", "delivery_email": f"f{i}@example.com"}
                 for i in range(1, 6)]
        settings = make_settings(tmp_path, alerts={"webhook": f"http://127.0.0.1:{hook.port}/hook"},
                                 delivery={"timeout": 5.0, "outbox": str(tmp_path / "outbox")},
                                 schedule={"max_parallel": 2})
        now = datetime(2026, 11, 26, 2, 30, tzinfo=timezone.utc)
        with open_hub(settings.hub, sandbox=sandbox_with(*feeds)) as hub, \
                Ledger(settings.state.database_url) as ledger:
            for feed_id in range(1, 6):
                ledger.streaks.set(feed_id, "failed")  # each delivery is a recovery: an alert each
            daemon = wiring.daemon(settings, as_hubs(hub), ledger, clock=lambda: now)
            futures = daemon.wake(now)
            results = [run for future in futures for run in future.result(timeout=60)]
            waiting = ledger.alerts.outcomes()
            daemon.stop(0)
            assert not daemon.alerts.close(0.5)  # still on the first alert's tries: kept for the next start
    assert [r.status for r in results] == ["delivered"] * 5
    # Every run ended while the first alert was still in its first tries: none waited for the webhook.
    assert waiting == [("recovered", "webhook", None)] * 5


# --- an endless reply --------------------------------------------------------------------------------------


@pytest.mark.parametrize("head, line", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n", b"x" * 1000),
    (b"HTTP/1.1 200 OK\r\n", b"X-Filler: " + b"x" * 1000 + b"\r\n"),
], ids=["body", "headers"])
def test_a_webhook_reply_that_never_ends_is_read_up_to_the_cap(head, line):
    with HostileServer(endless_after(head, line)) as hook:
        bound = Bound.after(10.0, "the test's deadline", cap=REPLY_CAP)
        started = time.monotonic()
        with pytest.raises(ReplyTooLong, match="went past 64 KB"):
            alerts.post_json(f"http://127.0.0.1:{hook.port}/hook", {"event": "failed"}, bound)
    assert REPLY_CAP < bound.read <= REPLY_CAP + 1  # read one byte past the cap, not a byte more
    assert time.monotonic() - started < 5


def test_an_alert_to_an_endless_webhook_is_given_up(tmp_path, caplog):
    with HostileServer(endless_after(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n", b"x" * 1000)) as hook:
        settings = make_settings(tmp_path, alerts={"webhook": f"http://127.0.0.1:{hook.port}/hook"},
                                 delivery={"timeout": 5.0})
        with Ledger(settings.state.database_url) as ledger:
            drained, _, _ = settle(ledger, settings, failed_run())
            outcomes = ledger.alerts.outcomes()
    assert drained and outcomes == [("failed", "webhook", "given up")]
    assert "the reply went past 64 KB" in caplog.text


# --- alert mail ----------------------------------------------------------------------------------------------


def test_a_trickling_mail_server_costs_an_alert_mail_its_deadline_only(tmp_path, caplog):
    """The greeting comes one byte every 0.3 s and never ends its line: each try is cut at 1 s."""
    with HostileServer(trickle(first=b"2", interval=0.3)) as server:
        settings = make_settings(tmp_path, alerts={"email": ["ops@example.com"]}, delivery={"timeout": 1.0},
                                 smtp={"host": "127.0.0.1", "port": server.port, "security": "none", "timeout": 60})
        with Ledger(settings.state.database_url) as ledger:
            drained, handed_over, drain = settle(ledger, settings, failed_run())
            outcomes = ledger.alerts.outcomes()
    assert drained and outcomes == [("failed", "ops@example.com", "given up")]
    assert server.connections == 3 and drain < 3 * 1.0 + 2 * 1.0 + 3 and handed_over < 1.0
    assert "ops@example.com could not be sent (cut off: the alert passed its deadline (1 s))" in caplog.text


def test_an_endless_mail_reply_fails_the_alert_mail_with_memory_bounded(tmp_path, caplog):
    with HostileServer(endless_after(b"", b"220-" + b"x" * 1000 + b"\r\n")) as server:
        settings = make_settings(tmp_path, alerts={"email": ["ops@example.com"]}, delivery={"timeout": 5.0},
                                 smtp={"host": "127.0.0.1", "port": server.port, "security": "none"})
        with Ledger(settings.state.database_url) as ledger:
            drained, _, _ = settle(ledger, settings, failed_run())
    assert drained and "reply went past 64 KB" in caplog.text


# --- a restart -------------------------------------------------------------------------------------------------

KEEP_AND_DIE = """
import sys
from feeds.ledger import Ledger
with Ledger(sys.argv[1]) as ledger:
    ledger.alerts.add(1, "failed", ["webhook", "ops@example.com"],
                      {"event": "failed", "feed_id": 1, "text": "Feed 1 (Test feed) of organisation 1 failed: no"})
"""


def test_an_alert_kept_but_not_sent_is_sent_by_the_next_sender_once(tmp_path, certs_folder):  # noqa: F811
    """A process kept an alert and stopped before sending it; the next process's sender sends it, once."""
    from servers import Certificates

    certs = Certificates(certs_folder)
    with Webhook() as hook, SmtpServer(certs) as smtp:
        settings = make_settings(tmp_path, alerts={"webhook": hook.url, "email": ["ops@example.com"]},
                                 smtp={"host": "127.0.0.1", "port": smtp.port, "ca_file": str(certs.ca_file)})
        database = settings.state.database_url
        Ledger(database).close()
        subprocess.run([sys.executable, "-c", KEEP_AND_DIE, database], check=True, timeout=60)
        with Ledger(database) as ledger:
            assert ledger.alerts.outcomes() == [("failed", "webhook", None), ("failed", "ops@example.com", None)]
            for _ in range(2):  # two starts: the second finds nothing left to send
                assert wiring.alerts(settings).start(ledger).close(20)
            outcomes = ledger.alerts.outcomes()
    assert [post["text"] for post in hook.posts] == ["Feed 1 (Test feed) of organisation 1 failed: no"]
    mails = [email.message_from_bytes(m.data, policy=email.policy.default) for m in smtp.mails]
    assert [m["To"] for m in mails] == ["ops@example.com"] and "failed" in mails[0]["Subject"]
    assert outcomes == [("failed", "webhook", "sent"), ("failed", "ops@example.com", "sent")]


def test_a_live_processs_alert_is_left_to_it_until_its_lease_runs_out(url):  # noqa: F811
    from sqlalchemy import update

    from feeds.ledger.tables import alert_outbox

    with Ledger(url) as ledger:
        (mine,) = ledger.alerts.add(1, "held", ["webhook"], {"text": "held"})
        (theirs,) = ledger.alerts.add(2, "held", ["webhook"], {"text": "held"})
        with ledger.db.engine.begin() as conn:  # another host's process: its liveness cannot be seen from here
            conn.execute(update(alert_outbox).where(alert_outbox.c.id == theirs.id)
                         .values(owner="elsewhere:1:abcdef012345"))
        assert ledger.alerts.stranded() == []  # ours is alive; theirs is within its lease
        assert not ledger.alerts.take(theirs.id) and ledger.alerts.take(mine.id)
        with ledger.db.engine.begin() as conn:
            conn.execute(update(alert_outbox).where(alert_outbox.c.id == theirs.id)
                         .values(lease_until="2000-01-01T00:00:00.000000Z"))
        assert [a.id for a in ledger.alerts.stranded()] == [theirs.id]
        assert ledger.alerts.take(theirs.id) and ledger.alerts.take(theirs.id)  # now ours: taken again by us
        ledger.alerts.done(theirs.id, "sent")
        assert not ledger.alerts.take(theirs.id)  # done: never sent twice


def test_an_alert_without_alerts_configured_is_logged_and_not_kept(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="feeds.alerts")
    settings = make_settings(tmp_path)
    with Ledger(settings.state.database_url) as ledger:
        with wiring.alerts(settings) as sender:
            assert sender.after_run(ledger, failed_run()) == "failed"
        assert ledger.alerts.outcomes() == []
    assert "(no [alerts] configured)" in caplog.text


def test_a_command_waits_for_its_alert(tmp_path, hub_server, sandbox):
    """``feeds run`` sends its alert before it exits (the sender drains, bounded, when the command ends)."""
    from conftest import CLIENT_ID, CLIENT_SECRET, write_settings
    from test_cli import invoke

    sandbox.feeds[1] = {**sandbox.feeds[1], "delivery_method": "FTP", "delivery_procotol": "FTP",
                        "delivery_server": "127.0.0.1", "delivery_port": free_port(), "delivery_user": "u",
                        "delivery_password": "p", "filename": "f.csv"}  # nothing listens: the run fails
    with Webhook() as hook:
        conf = write_settings(tmp_path / "feeds.toml", f"""
[hub]
base_url = "{hub_server.base_url}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
[delivery]
attempts = 1
allow_networks = ["127.0.0.0/8"]
[alerts]
webhook = "{hook.url}"
[state]
database = "{tmp_path / 'state' / 'feeds.db'}"
""")
        result = invoke("--config", str(conf), "run", "--id", "1")
        assert result.exit_code == 1 and [post["event"] for post in hook.posts] == ["failed"], result.output


def test_the_webhook_url_is_not_said_when_it_refuses(tmp_path, caplog):
    with Webhook(fail_first=5) as hook:
        settings = make_settings(tmp_path, alerts={"webhook": hook.url + "?token=s3cret"})
        with Ledger(settings.state.database_url) as ledger:
            drained, _, _ = settle(ledger, settings, failed_run())
    assert drained and "the webhook answered 503 Service Unavailable" in caplog.text and "s3cret" not in caplog.text


def test_nothing_listens_at_the_webhook(tmp_path, caplog):
    settings = make_settings(tmp_path, alerts={"webhook": f"http://127.0.0.1:{free_port()}/nobody"})
    with Ledger(settings.state.database_url) as ledger:
        drained, handed_over, _ = settle(ledger, settings, failed_run())
    assert drained and handed_over < 1.0 and "could not be sent" in caplog.text
