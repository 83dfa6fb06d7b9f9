"""The status page (SPEC §13), read in a real headless Chromium (Debian's, driven by Playwright), and `feeds status`.

Nothing downloads a browser: Playwright drives /usr/bin/chromium, which
.ci/run installs from Debian's packages when it is missing. The state the
page shows is made by the real daemon (``Board``): three wakes over a day,
deliveries to a mail server and an SFTP server on 127.0.0.1, an FTP server
that refuses, a catalogue that collapses. ``STATUS_SCREENSHOTS=docs`` writes the README's screenshots there.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import os
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from feeds import wiring
from feeds.config import HubFeed
from feeds.errors import UsageError
from feeds.hub import as_hubs, open_hub
from feeds.hub.sandbox import Catalogue
from feeds.ledger import Ledger
from feeds.metrics import Metrics, serve
from feeds.slots import SLOT, slot_of
from feeds.web import StatusPages, daemon_health
from feeds.websettings import WebSettings, check_binding
from feeds.webauth import guarded

from delivery_helpers import BASE_FEED, email_feed, make_settings, sandbox_with, sitc_feed
from servers import SftpServer, SmtpServer, free_port
from conftest import two_organisations
from test_cli import invoke

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "status-token-123456"
FTP_PASSWORD = "ftp-secret-9876"
#: where the screenshots go (``STATUS_SCREENSHOTS=docs`` for the README's), read before the tests change directory
SCREENSHOTS = Path(os.environ["STATUS_SCREENSHOTS"]).resolve() if os.environ.get("STATUS_SCREENSHOTS") else None


def minutes(when: datetime) -> int:
    return when.hour * 60 + when.minute


class Board:
    """Feeds delivered, failed, held, missed, waiting and inactive, made by the real daemon; the pages served.

    ``slot`` is the current slot and the page's clock ten minutes into it.
    Yesterday, three hours before ``slot``: the daemon first sees the feeds
    and delivers feed 4. Then the catalogue collapses and feed 5 is switched
    off. Three hours ago: feed 4 is held, feeds 1-3 are caught up (2 fails).
    At ``slot``: 1 and 3 are delivered, 2 fails again, 4 is held again.
    Then feed 5 is switched on (its slot two hours ago was missed) and feed 7
    is new.
    """

    def __init__(self, tmp_path: Path, token: str = "", page_size: int = 100, **server_options):
        self.tmp = tmp_path
        self.slot = slot_of(datetime.now(timezone.utc))
        self.now = self.slot + timedelta(minutes=10)
        at = minutes(self.slot)
        earlier = lambda hours: (at - hours * 60) % 1440  # noqa: E731
        feeds = [
            email_feed(name="Reseller prices", filename="prices.csv", timeslot=at),
            {**BASE_FEED, "name": "Broken feed", "timeslot": at, "delivery_method": "FTP", "delivery_procotol": "FTP",
             "delivery_server": "127.0.0.1", "delivery_port": free_port(), "delivery_user": "reseller",
             "delivery_password": FTP_PASSWORD},
            sitc_feed(name="<script>alert('x')</script>", sitc_filename="Stock.csv", timeslot=at),
            email_feed(name="Shrinking catalogue", timeslot=earlier(3), delivery_email="buyer@shrinking.example"),
            email_feed(name="Late feed", timeslot=earlier(2)),
            email_feed(name="Switched off", timeslot=at, active=False),
        ]
        self.sandbox = sandbox_with(*feeds)
        (tmp_path / "sitc").mkdir()
        self.smtp = SmtpServer(None, security="none").__enter__()
        self.sftp = SftpServer(tmp_path / "sitc").__enter__()
        self.settings = make_settings(
            tmp_path, delivery={"attempts": 1}, web={"token": token},
            smtp={"host": "127.0.0.1", "port": self.smtp.port, "security": "none"},
            sitc={"host": "127.0.0.1", "port": self.sftp.port, "username": self.sftp.user,
                  "password": self.sftp.password})
        self.ledger = Ledger(self.settings.state.database_url)
        self._time = self.slot - timedelta(hours=27)
        self.daemon = wiring.daemon(self.settings, as_hubs(open_hub(self.settings.hub, sandbox=self.sandbox)),
                                    Ledger(self.settings.state.database_url), clock=self._clock)
        self._wake(self.slot - timedelta(hours=27))
        self.sandbox.catalogue = Catalogue(count=60)  # 250 products before: feed 4's next file is held
        self.sandbox.feeds[5]["active"] = False
        self._wake(self.slot - timedelta(hours=3))
        self._wake(self.slot)
        self.sandbox.feeds[5]["active"] = True
        self.sandbox.feeds[7] = {"id": 7, **email_feed(name="New feed", timeslot=earlier(1))}
        self.pages = StatusPages(self.ledger, self.feeds, self.daemon.env.archive, clock=lambda: self.now,
                                 health=lambda: {**daemon_health(self.daemon.health)(), "daemons": 2},
                                 page_size=page_size)
        self.server = serve(Metrics(), self.daemon.health, "127.0.0.1", 0, self.pages,
                            guard=lambda app: guarded(app, self.settings.web), **server_options)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _clock(self) -> datetime:
        return self._time

    def _wake(self, when: datetime) -> None:
        self._time = when
        self.daemon.wake(when)
        assert self.daemon.wait_idle(60)

    def feeds(self) -> list[HubFeed]:
        return [HubFeed.read(raw) for raw in self.sandbox.feeds.values()]

    def hhmm(self, when: datetime) -> str:
        return when.strftime("%H:%M")

    def close(self) -> None:
        self.server.shutdown()
        self.daemon.stop(0)
        self.daemon.ledger.close()
        self.ledger.close()
        self.smtp.__exit__()
        self.sftp.__exit__()


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    served = Board(tmp_path_factory.mktemp("board"))
    yield served
    served.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def open_tab(browser, url: str, width: int = 1400, height: int = 900, **options):
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    tab = context.new_page()
    dialogs: list[str] = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.dialogs = dialogs
    tab.answer = tab.goto(url)
    return tab


def screenshot(tab, name: str, tmp_path: Path) -> None:
    tab.screenshot(path=str((SCREENSHOTS or tmp_path) / name), full_page=True)


def test_problems_come_first_each_with_when_it_is_tried_again(board, browser, tmp_path):
    tab = open_tab(browser, board.url + "/")
    states = tab.locator("#feeds tbody tr").evaluate_all("rows => rows.map(r => [r.dataset.feed, r.dataset.state])")
    assert states == [["2", "failed"], ["4", "held"], ["5", "missed"], ["1", "delivered"], ["3", "delivered"],
                      ["7", "waiting"], ["6", "inactive"]]
    names = tab.locator("#feeds .name").all_text_contents()
    assert names[4] == "<script>alert('x')</script>"  # text, not markup
    assert tab.dialogs == [] and tab.locator("#feeds script").count() == 0
    assert tab.locator("#feeds .status").all_text_contents() == ["failed", "held", "delivered", "delivered"]
    retry = board.hhmm(board.slot + SLOT)
    row = lambda feed_id: tab.locator(f'#feeds tr[data-feed="{feed_id}"]')  # noqa: E731
    assert row(2).locator(".next").inner_text() == f"will retry at {retry} UTC (run 2 of 3 for its slot)"
    assert "connection refused" in row(2).locator("td.error").inner_text()
    assert row(4).locator(".next").inner_text() == f"will retry at {retry} UTC (run 3 of 3 for its slot)"
    assert "rows fell from" in row(4).locator("td.error").inner_text()
    assert row(5).locator(".next").inner_text() == f"will be caught up at {retry} UTC"
    assert row(1).locator(".next").inner_text() == f"next due tomorrow {board.hhmm(board.slot)} UTC"
    assert row(7).locator(".next").inner_text().startswith("next due ")
    assert re.fullmatch(r"59 rows \(was 59\): \+0 -0 SKUs, .*", row(1).locator(".changes").inner_text())
    # Where each goes, and never a password.
    assert row(1).locator(".destination").inner_text() == "reseller@example.com"
    assert row(2).locator(".destination").inner_text().startswith("ftp://reseller@127.0.0.1:")
    assert FTP_PASSWORD not in tab.content()
    assert tab.locator("#counts").inner_text().split() == [
        "all", "7", "3", "need", "attention", "1", "failed", "1", "held", "1", "missed", "2", "delivered", "1",
        "waiting", "for", "its", "first", "slot", "1", "inactive"]
    colour = tab.locator('.timeline tr[data-feed="2"] td.failed').evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(214, 54, 56)"
    screenshot(tab, "status-page.png", tmp_path)


def test_the_latest_archived_file_downloads_from_the_first_page(board, browser):
    tab = open_tab(browser, board.url + "/", accept_downloads=True)
    link = tab.locator('#feeds tr[data-feed="1"] a.download')
    assert link.inner_text() == "prices.csv"
    with tab.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "prices.csv"
    newest = [mail for mail in board.smtp.mails if mail.rcpt_tos == ["reseller@example.com"]][-1]
    message = email.message_from_bytes(newest.data, policy=email.policy.default)
    (attachment,) = list(message.iter_attachments())
    assert open(download.path(), "rb").read() == attachment.get_payload(decode=True)  # byte-identical
    assert "(not sent)" not in tab.locator('#feeds tr[data-feed="1"]').inner_text()
    failed = tab.locator('#feeds tr[data-feed="2"] a.download')  # its file is kept for audit, and said to be unsent
    assert failed.locator("xpath=..").inner_text().endswith(".csv (not sent)")
    tab.click('#feeds tr[data-feed="2"] a')
    assert tab.url.endswith("/feeds/2") and "Broken feed" in tab.locator("h1").inner_text()
    assert tab.locator("#standing .next").inner_text().startswith("will retry at ")
    assert tab.locator("#runs tr[data-run]").count() == 2 and FTP_PASSWORD not in tab.content()


def test_the_timeline_marks_each_feeds_due_slot_so_missed_and_not_due_differ(board, browser):
    tab = open_tab(browser, board.url + "/")
    for feed_id in (1, 2, 3, 4, 5, 6, 7):
        assert tab.locator(f'.timeline tr[data-feed="{feed_id}"] td').count() == 48
    cell = lambda feed_id, slot: tab.locator(f'.timeline tr[data-feed="{feed_id}"] td').nth(  # noqa: E731
        47 - int((board.slot - slot) / SLOT))
    assert cell(1, board.slot).get_attribute("class") == "delivered due"
    assert cell(2, board.slot).get_attribute("class") == "failed due"
    assert cell(4, board.slot - timedelta(hours=3)).get_attribute("class") == "held due"  # its retry, in its slot
    missed = cell(5, board.slot - timedelta(hours=2))
    assert missed.get_attribute("class") == "missed due" and "missed, no run" in missed.get_attribute("title")
    assert cell(5, board.slot).get_attribute("class") == "none"  # not its slot: nothing was owed
    assert "not due" in cell(5, board.slot).get_attribute("title")
    assert cell(7, board.slot - timedelta(hours=1)).get_attribute("class") == "none due"  # new: nothing owed yet
    assert tab.locator('.timeline tr[data-feed="6"] td.due').count() == 0  # inactive: no due slot
    # The catch-ups of yesterday's slot lie outside the last 24 hours: only feed 4's slot shows a run for it.
    ran = tab.locator('.timeline tr[data-feed="4"] td:not(.none)')
    assert ran.count() == 1


def test_the_daemons_own_health_last_and_next_wake_and_what_else_it_tells(board, browser):
    tab = open_tab(browser, board.url + "/")
    daemon = tab.locator("#daemon")
    assert "Daemon healthy" in daemon.inner_text()
    assert daemon.locator(".last-wake").inner_text() == f"{board.hhmm(board.slot)} UTC (10 min ago)"
    assert daemon.locator(".next-wake").inner_text() == f"{board.hhmm(board.slot + SLOT)} UTC"
    assert "daemons: 2" in daemon.locator(".extra").all_inner_texts()


def test_the_layout_keeps_the_newest_slots_and_errors_in_view_at_900_px_and_on_a_phone(board, browser, tmp_path):
    tab = open_tab(browser, board.url + "/", width=900)
    assert tab.evaluate("document.documentElement.scrollWidth") <= 900  # the page itself never scrolls sideways
    box = tab.locator(".scroll").bounding_box()
    newest = tab.locator('.timeline tr[data-feed="2"] td').last.bounding_box()
    assert box["x"] <= newest["x"] and newest["x"] + newest["width"] <= box["x"] + box["width"]  # in view at once
    assert tab.evaluate("document.querySelector('.scroll').scrollWidth > document.querySelector('.scroll').clientWidth")
    name = tab.locator('.timeline tr[data-feed="2"] th.name').bounding_box()
    assert name["x"] >= box["x"] - 1  # the names stay at the left edge of the box
    error = tab.locator('#feeds tr[data-feed="2"] td.error').bounding_box()
    assert error["x"] + error["width"] <= 900 and error["width"] >= 150
    screenshot(tab, "status-page-900.png", tmp_path)
    phone = open_tab(browser, board.url + "/", width=390, height=844)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert phone.locator('#feeds tr[data-feed="2"] td.error').is_visible()
    phone.screenshot(path=str(tmp_path / "phone.png"), full_page=True)


def test_pages_of_feeds_problems_on_the_first(tmp_path, browser):
    served = Board(tmp_path, page_size=2)
    try:
        tab = open_tab(browser, served.url + "/")
        rows = lambda: tab.locator("#feeds tbody tr").evaluate_all("r => r.map(e => e.dataset.feed)")  # noqa: E731
        assert rows() == ["2", "4"] and "page 1 of 4" in tab.locator(".pager").first.inner_text()
        assert tab.locator('.timeline tr[data-feed]').count() == 2  # the timeline of this page's feeds alone
        tab.locator(".pager").first.locator("a[rel=next]").click()
        assert tab.url.endswith("/?page=2") and rows() == ["5", "1"]
        tab.goto(served.url + "/?page=999")
        assert rows() == ["6"] and "page 4 of 4" in tab.locator(".pager").first.inner_text()
        tab.goto(served.url + "/?state=problems")
        assert rows() == ["2", "4"] and tab.locator(".pager").first.locator("a[rel=next]").get_attribute(
            "href") == "/?state=problems&page=2"
        tab.locator("#counts a[data-state=delivered]").click()
        assert rows() == ["1", "3"]
        tab.goto(served.url + "/")
        tab.fill(".pager input[name=q]", "late")
        tab.locator(".pager button").first.click()
        assert rows() == ["5"]
    finally:
        served.close()


# --- signing in -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded_board(tmp_path_factory):
    served = Board(tmp_path_factory.mktemp("guarded"), token=TOKEN)
    yield served
    served.close()


def test_a_browser_signs_in_with_the_token_and_out_again(guarded_board, browser):
    tab = open_tab(browser, guarded_board.url + "/feeds/1?x=1")
    assert tab.answer.status == 401 and tab.locator("form.signin").count() == 1
    tab.fill("#token", "not-the-token")
    tab.click("form.signin button")
    assert tab.locator("p.message").inner_text().startswith("That is not the web token")
    assert tab.locator("#token").input_value() == ""
    tab.fill("#token", TOKEN)
    with tab.expect_navigation():
        tab.click("form.signin button")
    assert tab.url.endswith("/feeds/1?x=1") and "Reseller prices" in tab.locator("h1").inner_text()
    cookies = {c["name"]: c for c in tab.context.cookies()}
    session = cookies["feeds_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and not session["secure"]  # plain http here
    assert TOKEN not in session["value"] and len(session["value"]) == 64
    tab.goto(guarded_board.url + "/")
    assert tab.locator("#feeds tbody tr").count() == 7
    with tab.expect_navigation():
        tab.click("button:text('Sign out')")
    assert tab.url.endswith("/signin")
    assert "feeds_session" not in {c["name"] for c in tab.context.cookies()}
    assert tab.goto(guarded_board.url + "/").status == 401


def test_scripts_use_the_bearer_token_in_any_case_and_healthz_stays_open(guarded_board):
    url = guarded_board.url
    for path in ("/", "/feeds/1", "/metrics"):
        assert httpx.get(url + path).status_code == 401
    assert httpx.get(url + "/metrics").text.startswith("a bearer token is needed")
    assert httpx.get(url + "/healthz").status_code == 200
    for scheme in ("Bearer", "bearer", "BEARER"):
        assert httpx.get(url + "/metrics", headers={"Authorization": f"{scheme} {TOKEN}"}).status_code == 200
    assert httpx.get(url + "/", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(url + "/", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    # A cookie made for another token is worth nothing.
    other = guarded(lambda e, s: [], WebSettings(token="another-token-0000"))
    jar = {"feeds_session": sign_in_cookie(other)}
    assert httpx.get(url + "/", cookies=jar).status_code == 401


def sign_in_cookie(app) -> str:
    """The session cookie a sign-in to ``app`` (a guarded WSGI application) sets, read without a server."""
    import io

    answers: list = []
    body = b"token=another-token-0000&csrf=abc&next=%2F"
    app({"PATH_INFO": "/signin", "REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)), "HTTP_COOKIE": "feeds_csrf=abc",
         "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http"}, lambda status, headers: answers.append(headers))
    cookie = next(v for k, v in answers[0] if k == "Set-Cookie" and v.startswith("feeds_session="))
    return cookie.split(";")[0].split("=", 1)[1]


def test_the_sign_in_forms_refuse_forgery_and_leave_for_this_site_alone(guarded_board):
    url = guarded_board.url
    with httpx.Client(base_url=url) as client:
        form = client.get("/signin")
        csrf = client.cookies["feeds_csrf"]
        assert form.status_code == 200 and f'value="{csrf}"' in form.text
        assert client.post("/signin", data={"token": TOKEN}).status_code == 403  # no CSRF value
        assert client.post("/signin", data={"token": TOKEN, "csrf": "guess"}).status_code == 403
        cross = client.post("/signin", data={"token": TOKEN, "csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403 and "another site" in cross.text and "feeds_session" not in client.cookies
        wrong = client.post("/signin", data={"token": TOKEN + "x", "csrf": csrf})
        assert wrong.status_code == 401 and "That is not the web token" in wrong.text and TOKEN not in wrong.text
        done = client.post("/signin", data={"token": TOKEN, "csrf": csrf, "next": "//evil.example/x"})
        assert done.status_code == 303 and done.headers["Location"] == "/"
        assert "HttpOnly" in done.headers["Set-Cookie"] and "SameSite=Strict" in done.headers["Set-Cookie"]
        assert client.get("/").status_code == 200
        assert client.post("/signout", data={}).status_code == 403  # no CSRF value: still signed in
        assert client.get("/").status_code == 200
        assert client.post("/signout", data={"csrf": csrf}).status_code == 303
        assert client.get("/").status_code == 401


def test_the_cookie_is_secure_when_a_trusted_proxy_says_https(tmp_path):
    inner = lambda e, s: (s("200 OK", []), [b""])[1]  # noqa: E731
    trusting = serve(Metrics(), lambda: (True, {}), "127.0.0.1", 0, inner, trusted_proxy="127.0.0.1",
                     guard=lambda app: guarded(app, WebSettings(token=TOKEN)))
    plain = serve(Metrics(), lambda: (True, {}), "127.0.0.1", 0, inner,
                  guard=lambda app: guarded(app, WebSettings(token=TOKEN)))
    try:
        for server, secure in ((trusting, True), (plain, False)):
            url = f"http://127.0.0.1:{server.server_address[1]}"
            proxied = {"X-Forwarded-Proto": "https"}
            csrf = httpx.get(url + "/signin", headers=proxied).cookies["feeds_csrf"]
            done = httpx.post(url + "/signin", data={"token": TOKEN, "csrf": csrf},
                              headers={**proxied, "Cookie": f"feeds_csrf={csrf}"})
            assert done.status_code == 303
            assert ("; Secure" in done.headers["Set-Cookie"]) is secure
    finally:
        trusting.shutdown()
        plain.shutdown()


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
    assert set(last) == {"run_id", "status", "ended_at", "rows", "error", "changes", "worker"}
    assert last["status"] == "delivered" and last["changes"]["previous_rows"] is None
    assert last["worker"].split(":")[0] == socket.gethostname()  # which daemon or command ran it: host:pid
    table = invoke("--config", str(conf), "status").output
    assert "SITC feed" in table and "delivered" in table and "never run" in table


# --- where a feed stands (no browser) ----------------------------------------------------------------------------

NOW = datetime(2026, 11, 27, 14, 10, tzinfo=timezone.utc)
TODAY = NOW.replace(hour=14, minute=0)


def standing(timeslot: int | None = 840, claim: tuple[str, int] | None = None, first_seen: datetime | None = None,
             now: datetime = NOW, active: bool = True):
    from feeds.ledger import ClaimRow
    from feeds.slots import latest_due
    from feeds.status import standing_of
    from feeds.web import next_run_text

    feed = HubFeed.read({"id": 1, "name": "F", "active": active, "timeslot": timeslot})
    row = ClaimRow(1, latest_due(timeslot, now), *claim) if claim and timeslot is not None else None
    found = standing_of(feed, row, first_seen, now)
    return found.state, next_run_text(found, now)


def test_a_failed_or_held_slot_is_tried_at_each_wake_up_to_the_runs_per_slot_within_a_day():
    yesterday = NOW - timedelta(days=1)
    assert standing(claim=("failed", 1)) == ("failed", "will retry at 14:30 UTC (run 2 of 3 for its slot)")
    assert standing(claim=("held", 2)) == ("held", "will retry at 14:30 UTC (run 3 of 3 for its slot)")
    assert standing(claim=("failed", 3)) == ("failed", "no more tries for this slot; next due tomorrow 14:00 UTC")
    # Its slot was yesterday 14:30: the 14:30 wake runs today's slot instead, not a retry of yesterday's.
    assert standing(870, claim=("failed", 1)) == ("failed", "no more tries for this slot; next due 14:30 UTC")
    assert standing(claim=("delivered", 1)) == ("delivered", "next due tomorrow 14:00 UTC")
    assert standing(claim=("running", 1)) == ("running", "next due tomorrow 14:00 UTC")
    assert standing(first_seen=yesterday, now=TODAY + timedelta(minutes=2)) == ("due", "due now")
    assert standing(first_seen=yesterday) == ("missed", "will be caught up at 14:30 UTC")
    assert standing(first_seen=TODAY + timedelta(seconds=3)) == ("missed", "will be caught up at 14:30 UTC")
    assert standing(600, first_seen=TODAY + timedelta(seconds=3)) == ("waiting", "next due tomorrow 10:00 UTC")
    assert standing(first_seen=None) == ("waiting", "next due tomorrow 14:00 UTC")
    assert standing(active=False, claim=("failed", 1)) == ("inactive", "not scheduled (inactive)")
    assert standing(None) == ("unschedulable", "not scheduled: no usable timeslot")
