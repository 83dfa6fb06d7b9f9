"""Faults end to end: each ends in a correct file or a recorded failure, never a wrong file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from feeds import wiring
from conftest import FAST_HUB

from feeds.catalog import load_catalogue
from feeds.config import FeedConfig
from feeds.hub.client import HubClient
from feeds.hub.sandbox import Catalogue, Fault, RunningSandbox, Sandbox
from feeds.hub.sandbox.data import products
from feeds.ledger import Ledger
from feeds.render import render_feed
from feeds.runner import run_feed

from conftest import Sleeps
from delivery_helpers import BASE_FEED, email_feed, ftp_feed, make_settings
from servers import Certificates, FtpServer, SmtpServer

FEED = {**BASE_FEED, "id": 1, "delivery_method": "EMAIL", "delivery_email": "x@example.com", "filename": "f.csv",
        "columns": ["name", "stock", "price", "rrp", "vendor", "mpn", "ean"]}


class Run:
    """One feed run against a sandbox over HTTP, delivering to an outbox."""

    def __init__(self, tmp_path: Path, sandbox: Sandbox, running: RunningSandbox, **hub):
        self.tmp = tmp_path
        self.sandbox = sandbox
        self.settings = make_settings(tmp_path, hub={"base_url": running.base_url, **hub},
                                      delivery={"outbox": str(tmp_path / "outbox"), "retry_wait": 0.0})
        self.sleeps = Sleeps()

    def __call__(self, feed_id: int = 1):
        with HubClient(self.settings.hub, policy=FAST_HUB, sleep=self.sleeps) as hub, \
                Ledger(self.settings.state.database_url) as ledger:
            result = run_feed(wiring.run_environment(self.settings), hub, ledger, feed_id)
            return result, ledger.runs.get(result.run_id).to_json()

    def delivered(self, feed_id: int = 1) -> bytes | None:
        path = self.tmp / "outbox" / str(feed_id) / "f.csv.eml"
        if not path.exists():
            return None
        import email
        import email.policy

        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        (attachment,) = list(message.iter_attachments())
        return attachment.get_payload(decode=True)

    def expected(self, items: list[dict]) -> bytes:
        """The file rendered from a clean sandbox holding ``items``."""
        clean = Sandbox(feeds={1: FEED}, catalogue=Catalogue(items=items))
        with RunningSandbox(clean) as running, HubClient(self.settings.hub.model_copy(update={"base_url": running.base_url})) as hub:
            out = io.BytesIO()
            render_feed(load_catalogue(hub), FeedConfig.model_validate(FEED), out)
            return out.getvalue()


@pytest.fixture
def run(tmp_path):
    sandbox = Sandbox(feeds={1: FEED}, catalogue=Catalogue(items=products(3, 0, 2500)))
    with RunningSandbox(sandbox) as running:
        yield Run(tmp_path, sandbox, running, per_page=500)


def items_of(run: Run) -> list[dict]:
    return [dict(p) for p in run.sandbox.catalogue.items]


def test_a_catalogue_that_shifts_between_pages_is_read_again(run):
    run.sandbox.add_fault(Fault("shift", page=3))  # a product appears at the head while page 3 is read
    result, row = run()
    assert result.status == "delivered", result.error
    assert run.delivered() == run.expected(items_of(run))  # the catalogue as it is after the change
    assert run.sandbox.recorded.counts["GET /products"] == 5 + 5 + 1  # read, changed, read again (5 pages, plus 1)


def test_a_product_removed_while_reading_is_not_silently_lost(run):
    run.sandbox.add_fault(Fault("shift", page=2, remove=True))
    result, _ = run()
    assert result.status == "delivered"
    assert run.delivered() == run.expected(items_of(run))


def test_a_catalogue_that_keeps_shifting_fails_and_delivers_nothing(run):
    run.sandbox.add_fault(Fault("shift", page=2, times=-1))
    result, row = run()
    assert result.status == "failed" and "the catalogue kept changing" in result.error
    assert row["status"] == "failed" and run.delivered() is None


def test_malformed_json_once_then_a_correct_file(run):
    expected = run.expected(items_of(run))
    run.sandbox.add_fault(Fault("malformed", page=2))
    result, _ = run()
    assert result.status == "delivered" and run.delivered() == expected


def test_malformed_json_every_time_is_a_recorded_failure(run):
    run.sandbox.add_fault(Fault("malformed", page=4, times=-1))
    result, row = run()
    assert result.status == "failed" and "not JSON" in result.error and "after 5 attempts" in result.error
    assert run.delivered() is None


def test_a_connection_reset_in_a_page_then_a_correct_file(run):
    expected = run.expected(items_of(run))
    run.sandbox.add_fault(Fault("reset", page=3, times=2))
    result, _ = run()
    assert result.status == "delivered" and run.delivered() == expected


def test_a_hub_timeout_in_the_middle_then_a_correct_file(tmp_path):
    sandbox = Sandbox(feeds={1: FEED}, catalogue=Catalogue(items=products(3, 0, 1200)))
    with RunningSandbox(sandbox) as running:
        run = Run(tmp_path, sandbox, running, per_page=500, timeout=0.5)
        expected = run.expected(items_of(run))
        sandbox.add_fault(Fault("delay", page=2, seconds=1.5))
        result, _ = run()
        assert result.status == "delivered" and run.delivered() == expected


def test_a_burst_of_500s_that_passes(run):
    expected = run.expected(items_of(run))
    run.sandbox.add_fault(Fault("status", page=2, status=500, times=4))
    result, _ = run()
    assert result.status == "delivered" and run.delivered() == expected


def test_a_burst_of_500s_that_does_not_pass_fails_clearly(run):
    run.sandbox.add_fault(Fault("status", page=2, status=500, times=-1))
    result, row = run()
    assert result.status == "failed"
    assert result.error == "Hub answered 500 Internal Server Error to GET /products after 5 attempts"
    assert run.delivered() is None


def test_a_429_storm_with_retry_after(run):
    expected = run.expected(items_of(run))
    for page in (2, 3, 4):
        run.sandbox.add_fault(Fault("status", page=page, status=429, retry_after=2, times=2))
    result, _ = run()
    assert result.status == "delivered" and run.delivered() == expected
    assert sum(1 for s in run.sleeps if s >= 1.5) >= 3  # Retry-After was honoured


def test_a_token_expiring_in_the_middle_of_the_catalogue(run):
    expected = run.expected(items_of(run))
    run.sandbox.add_fault(Fault("expire_tokens", page=3))
    result, _ = run()
    assert result.status == "delivered" and run.delivered() == expected
    assert run.sandbox.recorded.token_count() == 2


def test_wrong_types_in_a_product_leave_it_out_and_say_so(run):
    items = items_of(run)
    first_on_page_2 = run.sandbox.catalogue.by_name(500, 501)[0]  # products are read by name
    run.sandbox.add_fault(Fault("wrong_types", page=2))
    result, _ = run()
    assert result.status == "delivered"
    assert "1 with unreadable values left out" in result.summary()
    kept = [p for p in items if p["id"] != first_on_page_2["id"]]
    assert run.delivered() == run.expected(kept)


def test_ten_thousand_character_names(tmp_path):
    long_name = "Très long, \"nom\"; " * 560  # about 10,000 characters
    items = [{"id": 100_000, "product_code": "LONG-1", "name": long_name[:10_000], "price": 1, "stock": 1}] + products(3, 0, 50)
    sandbox = Sandbox(feeds={1: FEED}, catalogue=Catalogue(items=items))
    with RunningSandbox(sandbox) as running:
        run = Run(tmp_path, sandbox, running)
        result, _ = run()
        assert result.status == "delivered"
        data = run.delivered()
        assert data == run.expected(items)
        escaped = '"' + long_name[:10_000].replace('"', '""') + '"'
        assert escaped.encode() in data


# --- delivery faults not covered by test_delivery -----------------------------------------


def test_an_ftp_server_slower_than_the_timeout_is_retried(tmp_path):
    root = tmp_path / "ftp"
    root.mkdir()
    with FtpServer(root) as server:
        server.faults.stall = 2.0
        settings = make_settings(tmp_path, delivery={"retry_wait": 0.0, "timeout": 1.0})
        sandbox = Sandbox(feeds={1: {**ftp_feed(server, filename="slow.csv"), "id": 1}})
        from delivery_helpers import run as run_one

        def unstall(*_):
            server.faults.stall = 0.0

        import threading

        threading.Timer(1.5, unstall).start()
        result, row, attempts = run_one(settings, sandbox)
        assert result.status == "delivered", result.error
        assert "timed out" in attempts[0]["error"]
        assert list(server.files()) == ["slow.csv"]


def test_a_mail_server_silent_after_the_whole_mail_is_not_sent_the_mail_twice(tmp_path):
    (tmp_path / "c").mkdir()
    certs = Certificates(tmp_path / "c")
    with SmtpServer(certs, username="mailer", password="pw-123456") as server:
        original = server.controller.handler.handle_DATA
        calls = []

        async def slow(*args):
            import asyncio

            calls.append(1)
            if len(calls) == 1:
                await asyncio.sleep(2.0)
            return await original(*args)

        server.controller.handler.handle_DATA = slow
        settings = make_settings(tmp_path, smtp={"host": "127.0.0.1", "port": server.port, "username": "mailer",
                                                 "password": "pw-123456", "ca_file": str(certs.ca_file), "timeout": 1.0})
        from delivery_helpers import run as run_one

        result, _, attempts = run_one(settings, Sandbox(feeds={1: {**email_feed(), "id": 1}}))
        import time

        time.sleep(2.5)  # whatever the server does with the first mail, it has done it now
    # The server had the whole mail and its final dot when it stopped answering: it may have taken it, and no
    # server can be asked afterwards, so it is not sent again; the run says so, for a person to check.
    assert result.status == "failed" and result.unconfirmed, result.error
    assert "not sent again" in result.error and "check with the recipient" in result.error
    assert len(attempts) == 2 and ("timed out" in attempts[0]["error"] or "closed" in attempts[0]["error"])
    assert len(server.mails) <= 1


# --- hostile configurations on the run path ---------------------------------------------------


@pytest.mark.parametrize("patch, field", [
    ({"name": "N" * 1_000_000}, "name"),
    ({"delivery_email": "a@example.com\r\nBcc: thief@example.net"}, "delivery_email"),
    ({"delivery_email": "x" * 1_000_000 + "@example.com"}, "delivery_email"),
    ({"filename": "/etc/cron.d/x"}, "filename"),
    ({"filename": "..\\..\\x.csv"}, "filename"),
    ({"filename": "a\u0000b.csv"}, "filename"),
])
def test_hostile_configurations_are_refused_before_anything_is_sent(tmp_path, patch, field):
    (tmp_path / "c").mkdir()
    certs = Certificates(tmp_path / "c")
    with SmtpServer(certs) as server:
        settings = make_settings(tmp_path, smtp={"host": "127.0.0.1", "port": server.port, "ca_file": str(certs.ca_file)})
        sandbox = Sandbox(feeds={1: {**email_feed(), "id": 1, **patch}})
        from delivery_helpers import run as run_one

        result, row, attempts = run_one(settings, sandbox)
        assert result.status == "failed" and field in result.error
        assert len(result.error) < 600  # one clear sentence, not a megabyte
        assert attempts == [] and server.mails == [] and sandbox.recorded.counts["GET /products"] == 0


def test_hostile_ftp_configurations_are_refused_before_connecting(tmp_path):
    root = tmp_path / "ftp"
    root.mkdir()
    with FtpServer(root) as server:
        settings = make_settings(tmp_path)
        for patch in [{"delivery_server": "ftp://127.0.0.1/"}, {"delivery_user": "u\r\nDELE x"},
                      {"delivery_path": "/in/../../etc"}, {"delivery_password": "p\r\nSITE x"}]:
            sandbox = Sandbox(feeds={1: {**ftp_feed(server), "id": 1, **patch}})
            from delivery_helpers import run as run_one

            result, _, attempts = run_one(settings, sandbox)
            assert result.status == "failed" and attempts == [], patch
        assert server.commands == []


def test_non_utf8_configuration_files_are_refused(tmp_path):
    from click.testing import CliRunner

    from feeds.cli import cli

    path = tmp_path / "latin1.json"
    path.write_bytes(json.dumps({"name": "Café"}).encode("latin-1").replace(b"Caf\\u00e9", "Café".encode("latin-1")))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2 and "is not UTF-8 text" in result.output
