"""What servers say, kept as a run's error (SPEC §11 "Stored text" and "Text"): cut to 500 characters, and the
target's password masked in it whatever its length.

The servers are hostile ones on 127.0.0.1 (tests/hostile.py): an FTP server whose 530 reply to the login is
52 KB long and echoes the password back.
"""

from __future__ import annotations

import httpx
import pytest

from feeds import redact, wiring
from feeds.config import HubFeed
from feeds.hub import open_hub
from feeds.ledger import Ledger
from feeds.metrics import Metrics, serve
from feeds.runner import run_feed
from feeds.web import StatusPages

from delivery_helpers import BASE_FEED, make_settings, sandbox_with
from hostile import HostileServer, ftp_refusing_login, scripted
from test_guard import Webhook

PASSWORD = "abcde"  # five characters: shorter than what free text is searched for


def ftp_feed_to(port: int, password: str = PASSWORD) -> dict:
    return {**BASE_FEED, "delivery_method": "FTP", "delivery_procotol": "FTP", "delivery_server": "127.0.0.1",
            "delivery_port": port, "delivery_user": "reseller", "delivery_password": password}


def huge_refusal(password: str) -> bytes:
    """A 52 KB multi-line 530 reply with the password in its first and last lines."""
    middle = b"".join(b"530-%05d the quick brown fox jumps over the lazy dog again and again\r\n" % n
                      for n in range(730))
    return (b"530-bad password " + password.encode() + b"\r\n" + middle
            + b"530 login refused for reseller with password " + password.encode() + b"\r\n")


def test_a_52_kb_reply_is_kept_as_500_characters_everywhere(tmp_path):
    reply = huge_refusal(PASSWORD)
    assert len(reply) > 50_000
    with HostileServer(ftp_refusing_login(reply)) as server, Webhook() as hook:
        settings = make_settings(tmp_path, delivery={"attempts": 1}, alerts={"webhook": hook.url})
        sandbox = sandbox_with(ftp_feed_to(server.port))
        with open_hub(settings.hub, sandbox=sandbox) as hub, Ledger(settings.state.database_url) as ledger:
            result = run_feed(wiring.run_environment(settings), hub, ledger, 1)
            wiring.alerts(settings).after_run(ledger, result)
            row = ledger.runs.get(result.run_id)
            (attempt,) = ledger.runs.attempts_of(result.run_id)
            pages = StatusPages(ledger, lambda: [HubFeed.read(f) for f in sandbox.feeds.values()],
                                wiring.run_environment(settings).archive)
            web = serve(Metrics(), lambda: (True, {}), "127.0.0.1", 0, pages)
            try:
                base = f"http://127.0.0.1:{web.server_address[1]}"
                shown = [httpx.get(base + path).text for path in ("/", "/feeds/1")]
            finally:
                web.shutdown()
    assert result.status == "failed"
    for kept in (row.error, attempt.error, hook.posts[0]["error"]):
        assert len(kept) <= 500 and "characters cut" in kept, kept
        assert kept.startswith("logging in to FTP 127.0.0.1:") and "the server refused the login (530" in kept
        assert PASSWORD not in kept and redact.MASK in kept
    assert row.error.endswith("check delivery_user and delivery_password")  # the advice survives the cut
    assert len(hook.posts[0]["text"]) < 700 and PASSWORD not in hook.posts[0]["text"]
    for html in shown:
        assert "characters cut" in html and "jumps over the lazy dog again" in html
        assert html.count("the lazy dog") < 10 and PASSWORD not in html


@pytest.mark.parametrize("password, reply, masked", [
    ("abcde", b"530 bad password abcde\r\n", "530 bad password ********"),
    ("5", b"530 bad password '5'\r\n", "530 bad password '********'"),  # 530 itself is left alone
    ("pw", b"530 user reseller, pass=pw: no\r\n", "530 user reseller, pass=********: no"),
])
def test_a_short_password_the_server_echoes_is_masked(tmp_path, password, reply, masked):
    with HostileServer(ftp_refusing_login(reply)) as server:
        settings = make_settings(tmp_path, delivery={"attempts": 1})
        with open_hub(settings.hub, sandbox=sandbox_with(ftp_feed_to(server.port, password))) as hub, \
                Ledger(settings.state.database_url) as ledger:
            result = run_feed(wiring.run_environment(settings), hub, ledger, 1)
            row = ledger.runs.get(result.run_id)
    assert result.status == "failed"
    assert f"the server refused the login ({masked}); check delivery_user" in row.error, row.error
    assert masked in result.error and masked in result.summary()


def test_cutting_keeps_the_start_and_the_end():
    text = "start " + "x" * 10_000 + " end"
    kept = redact.cut(text)
    assert len(kept) == 500 and kept.startswith("start x") and kept.endswith("x end")
    assert " […9,536 characters cut…] " in kept and len(text) - 9_536 + len(" […9,536 characters cut…] ") == 500
    assert redact.cut("short") == "short" and redact.stored(None) is None


def test_a_multi_line_reply_is_one_line_in_the_error(tmp_path):
    with HostileServer(ftp_refusing_login(b"530-first\r\n530-second\r\n530 third\r\n")) as server:
        settings = make_settings(tmp_path, delivery={"attempts": 1})
        with open_hub(settings.hub, sandbox=sandbox_with(ftp_feed_to(server.port))) as hub, \
                Ledger(settings.state.database_url) as ledger:
            result = run_feed(wiring.run_environment(settings), hub, ledger, 1)
    assert "(530-first 530-second 530 third); check delivery_user" in result.error, result.error


def test_the_smtp_password_a_mail_server_echoes_is_masked(tmp_path):
    answers = {b"EHLO": b"250-hostile\r\n250 AUTH PLAIN\r\n", b"AUTH": b"235 welcome\r\n",
               b"MAIL": b"550 sender refused for ops with password pw1\r\n"}
    with HostileServer(scripted(b"220 hostile SMTP\r\n", answers)) as server:
        settings = make_settings(tmp_path, delivery={"attempts": 1},
                                 smtp={"host": "127.0.0.1", "port": server.port, "security": "none",
                                       "username": "ops", "password": "pw1"})
        feed = {**BASE_FEED, "delivery_method": "EMAIL", "delivery_email": "reseller@example.com"}
        with open_hub(settings.hub, sandbox=sandbox_with(feed)) as hub, Ledger(settings.state.database_url) as ledger:
            result = run_feed(wiring.run_environment(settings), hub, ledger, 1)
            row = ledger.runs.get(result.run_id)
    assert result.status == "failed"
    assert "the server answered 550 sender refused for ops with password ********" in row.error, row.error
    assert "pw1" not in result.error
