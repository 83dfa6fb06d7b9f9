"""The status page (SPEC §13), read in a real headless Chromium (Debian's, driven by Playwright), and `feeds status`.

Nothing downloads a browser: Playwright drives /usr/bin/chromium, which
.ci/run installs from Debian's packages when it is missing.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone

import httpx
import pytest

from feeds import wiring

from feeds.config import HubFeed
from feeds.errors import UsageError
from feeds.hub import open_hub
from feeds.ledger import Ledger
from feeds.metrics import Metrics, serve
from feeds.runner import run_feed
from feeds.web import StatusPages, WebSettings, check_binding, guarded

from delivery_helpers import email_feed, make_settings, sandbox_with, sitc_feed
from servers import free_port
from conftest import two_organisations
from test_cli import invoke

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "status-token-123456"


class Page:
    """Three feeds run into an outbox (delivered, failed, a name that is HTML) and the daemon's pages served."""

    def __init__(self, tmp_path, token: str = ""):
        self.tmp = tmp_path
        feeds = [
            email_feed(name="Reseller prices", filename="prices.csv"),
            {**email_feed(name="Broken feed"), "delivery_method": "FTP", "delivery_procotol": "FTP",
             "delivery_server": "127.0.0.1", "delivery_port": free_port(), "delivery_user": "u",
             "delivery_password": "p"},
            sitc_feed(name="<script>alert('x')</script>", sitc_filename="Stock.csv"),
        ]
        self.sandbox = sandbox_with(*feeds)
        self.settings = make_settings(tmp_path, delivery={"attempts": 1}, web={"token": token},
                                      sitc={"host": "sitc.example.com"})
        outbox = wiring.run_environment(make_settings(tmp_path, delivery={"outbox": str(tmp_path / "outbox")},
                                                      sitc={"host": "sitc.example.com"}))
        self.ledger = Ledger(self.settings.state.database_url)
        with open_hub(self.settings.hub, sandbox=self.sandbox) as hub:
            self.results = {1: run_feed(outbox, hub, self.ledger, 1),
                            2: run_feed(wiring.run_environment(self.settings), hub, self.ledger, 2),
                            3: run_feed(outbox, hub, self.ledger, 3)}
        hub_feeds = [HubFeed.read(f) for f in self.sandbox.feeds.values()]
        pages = StatusPages(self.ledger, lambda: hub_feeds, outbox.archive)
        health = lambda: (True, {"status": "ok"})  # noqa: E731
        self.server = serve(Metrics(), health, "127.0.0.1", 0, pages,
                            guard=lambda app: guarded(app, self.settings.web))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.ledger.close()


@pytest.fixture
def page(tmp_path):
    served = Page(tmp_path)
    yield served
    served.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def test_the_page_shows_every_feed_its_outcome_and_a_failures_reason(page, browser):
    assert page.results[1].status == "delivered" and page.results[2].status == "failed"
    tab = browser.new_page()
    dialogs = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.goto(page.url + "/")
    names = tab.locator("#feeds td.name").all_text_contents()
    assert names == ["Reseller prices", "Broken feed", "<script>alert('x')</script>"]  # text, not markup
    assert dialogs == [] and tab.locator("#feeds script").count() == 0
    statuses = tab.locator("#feeds td.status").all_text_contents()
    assert statuses == ["delivered", "failed", "delivered"]
    reason = tab.locator('#feeds tr[data-feed="2"] td.error').inner_text()
    assert "connection refused" in reason
    assert "first delivery" in tab.locator('#feeds tr[data-feed="1"]').inner_text()
    # The timeline: 48 slots per feed, the run in the current slot, coloured by how it ended.
    rows = tab.locator(".timeline tr[data-feed]")
    assert rows.count() == 3
    for feed_id, status in ((1, "delivered"), (2, "failed"), (3, "delivered")):
        cells = tab.locator(f'.timeline tr[data-feed="{feed_id}"] .cell')
        assert cells.count() == 48
        ran = tab.locator(f'.timeline tr[data-feed="{feed_id}"] .cell:not(.none)')
        assert ran.count() == 1 and ran.get_attribute("data-status") == status
        slot = datetime.now(timezone.utc)
        assert ran.get_attribute("data-slot") == f"{slot.hour:02d}:{slot.minute - slot.minute % 30:02d}"
    colour = tab.locator('.timeline tr[data-feed="2"] .cell.failed').evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(214, 54, 56)"
    tab.screenshot(path=str(page.tmp / "status.png"), full_page=True)
    tab.close()


def test_a_feeds_runs_with_its_archived_file_to_download(page, browser):
    tab = browser.new_page()
    tab.goto(page.url + "/")
    tab.click('#feeds tr[data-feed="1"] a')
    assert tab.url.endswith("/feeds/1") and "Reseller prices" in tab.locator("h1").inner_text()
    with tab.expect_download() as info:
        tab.click("a.download")
    download = info.value
    assert download.suggested_filename == "prices.csv"
    delivered = page.tmp / "outbox" / "1" / "prices.csv.eml"
    import email
    import email.policy

    message = email.message_from_bytes(delivered.read_bytes(), policy=email.policy.default)
    (attachment,) = list(message.iter_attachments())
    assert open(download.path(), "rb").read() == attachment.get_payload(decode=True)  # byte-identical
    tab.close()


def test_the_token_guards_every_path_but_healthz(tmp_path, browser):
    served = Page(tmp_path, token=TOKEN)
    try:
        assert httpx.get(served.url + "/").status_code == 401
        assert httpx.get(served.url + "/feeds/1").status_code == 401
        assert httpx.get(served.url + "/metrics").status_code == 401
        assert httpx.get(served.url + "/healthz").status_code == 200
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(served.url + "/", headers=auth).status_code == 200
        assert httpx.get(served.url + "/", headers={"Authorization": "Bearer nope"}).status_code == 401
        context = browser.new_context(extra_http_headers=auth)
        tab = context.new_page()
        tab.goto(served.url + "/")
        assert tab.locator("#feeds td.name").count() == 3
        context.close()
    finally:
        served.close()


def test_binding_beyond_loopback_needs_a_token(tmp_path):
    check_binding("127.0.0.1", WebSettings())
    check_binding("::1", WebSettings())
    check_binding("0.0.0.0", WebSettings(token=TOKEN))
    with pytest.raises(UsageError, match="web.token"):
        check_binding("0.0.0.0", WebSettings())
    conf = tmp_path / "f.toml"
    conf.write_text(f'[state]\ndatabase = "{tmp_path}/s.db"\n')
    result = invoke("--config", str(conf), "daemon", "--metrics-host", "0.0.0.0", "--metrics-port", "0")
    assert result.exit_code == 2 and "web.token is not set" in result.output


def test_status_json_has_every_feed_with_its_last_run(tmp_path, hub_server, sandbox):
    conf = tmp_path / "feeds.toml"
    conf.write_text(two_organisations(hub_server.base_url) + f"""
[sitc]
host = "sitc.example.com"
[delivery]
outbox = "{tmp_path / 'outbox'}"
[state]
database = "{tmp_path / 'state' / 'feeds.db'}"
""")
    assert invoke("--config", str(conf), "run", "--id", "3").exit_code == 0
    statuses = json.loads(invoke("--config", str(conf), "status", "--json").stdout)
    assert [s["id"] for s in statuses] == [1, 2, 3, 4]
    for status in statuses:
        assert set(status) == {"id", "organisation", "name", "active", "method", "timeslot", "next_due", "last_run"}
    assert statuses[0]["last_run"] is None and statuses[1]["next_due"] is None  # never run; inactive
    assert statuses[0]["next_due"].endswith(":30:00Z")
    last = statuses[2]["last_run"]
    assert set(last) == {"run_id", "status", "ended_at", "rows", "error", "changes"}
    assert last["status"] == "delivered" and last["changes"]["previous_rows"] is None
    table = invoke("--config", str(conf), "status").output
    assert "SITC feed" in table and "delivered" in table and "never run" in table
