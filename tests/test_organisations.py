"""The real Hub's paths, a stable product order, and many organisations in one daemon (SPEC §1, §10)."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import threading
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest

from feeds import wiring

from feeds.catalog import load_catalogue
from feeds.catalog import Catalogue as Products
from feeds.hub.client import HubClient
from feeds.hub.sandbox import (CLIENT_ID, CLIENT_SECRET, RESELLER_CLIENT_ID, RESELLER_CLIENT_SECRET, Catalogue,
                               Organisation, RunningSandbox, Sandbox)
from feeds.hub.sandbox.data import products
from feeds.ledger import Ledger
from feeds.wiring import load_settings as load

from conftest import hub_settings, write_settings
from test_cli import invoke

TWO_ORGANISATIONS = """
[hub]
base_url = "{base}"
client_id = "sandbox"
client_secret = "sandbox-secret"
concurrency = {concurrency}
[organisations.2]
client_id = "reseller"
client_secret = "reseller-secret"
[delivery]
outbox = "{tmp}/outbox"
[state]
database = "{tmp}/state/feeds.db"
[schedule]
processes = 1
"""


def two_organisations(tmp_path, base: str, concurrency: int = 4) -> str:
    return str(write_settings(tmp_path / "feeds.toml",
                              TWO_ORGANISATIONS.format(base=base, tmp=tmp_path, concurrency=concurrency)))


# --- the paths of the real Hub --------------------------------------------------------------------


def test_only_create_token_and_whoami_are_served_and_used(hub_server, sandbox):
    base = hub_server.base_url
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials"}
    assert httpx.post(base + "/oauth/token", data=form).status_code == 404  # the old path is not Hub's
    token = httpx.post(base + "/oauth/create_token", data=form).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(base + "/me", headers=auth).status_code == 404
    assert httpx.get(base + "/whoami", headers=auth).json()["organisation"] == 1
    with HubClient(hub_settings(base)) as client:
        assert client.whoami()["name"] == "Sandbox User"
    assert set(sandbox.recorded.counts) == {"POST /oauth/token", "POST /oauth/create_token", "GET /me", "GET /whoami"}
    assert sandbox.recorded.counts["POST /oauth/create_token"] == 2
    assert load(None, {}).hub.effective_token_url == "https://hub.nuvias-uc.com/api/v1/oauth/create_token"


# --- products in an order that holds still ----------------------------------------------------


def test_a_catalogue_whose_popularity_order_moves_is_read_once_and_exactly():
    items = products(3, 0, 2500)
    sandbox = Sandbox(catalogue=Catalogue(items=items, moving=37))  # orders come in between page reads
    with RunningSandbox(sandbox) as running, HubClient(hub_settings(running.base_url, per_page=500)) as hub:
        by_popularity = [p["id"] for page in hub.iter_pages("/products") for p in page.items]
        assert len(set(by_popularity)) < len(items)  # read the default way, products repeat and go missing
        before = sandbox.recorded.counts["GET /products"]
        catalogue = load_catalogue(hub)
    assert sandbox.recorded.counts["GET /products"] - before == 5  # one read of 5 pages, no re-read
    assert all("sort_by=%2Bname" in query for _, path, query in sandbox.recorded.requests[-6:] if path == "/products")
    expected = {p["id"] for p in items if isinstance(p.get("product_code"), str) and p["product_code"]}
    assert {r.id for r in catalogue.records} <= expected
    assert len(catalogue.records) + catalogue.unreadable == len(expected) and catalogue.duplicates == 0


# --- many organisations ------------------------------------------------------------------------


def attachment_rows(path) -> dict[str, dict[str, str]]:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    (attachment,) = list(message.iter_attachments())
    reader = csv.DictReader(io.StringIO(attachment.get_payload(decode=True).decode("utf-8"), newline=""))
    return {row["sku"]: row for row in reader}


def test_two_organisations_each_feed_carries_its_own_prices(tmp_path):
    sandbox = Sandbox.from_samples()
    sandbox.feeds[4]["timeslot"] = sandbox.feeds[1]["timeslot"] = 150  # one slot for both organisations
    with RunningSandbox(sandbox) as running:
        settings = load(two_organisations(tmp_path, running.base_url, concurrency=2), {})
        with wiring.open_hubs(settings) as hubs, Ledger(settings.state.database_url) as ledger:
            now = datetime(2026, 11, 26, 2, 30, tzinfo=timezone.utc)
            daemon = wiring.daemon(settings, hubs, ledger, clock=lambda: now)
            futures = daemon.wake(now)
            assert daemon.wait_idle(60)
            results = {r.feed_id: r for f in futures for r in f.result()}
            daemon.stop(0)
    assert results[1].status == results[4].status == "delivered"
    distributor = attachment_rows(next((tmp_path / "outbox" / "1").glob("*.eml")))
    reseller = attachment_rows(next((tmp_path / "outbox" / "4").glob("*.eml")))
    own = {p.get("product_code"): p for p in sandbox.catalogue.slice(0, len(sandbox.catalogue))}
    compared = 0
    for sku, row in reseller.items():
        price = own[sku].get("price")
        if isinstance(price, (int, float)) and price >= 1:
            marked_up = Decimal(repr(round(price * 1.25, 2))).quantize(Decimal("0.01"), ROUND_HALF_UP)
            assert row["price"] == str(marked_up) != distributor[sku]["price"]
            compared += 1
    assert compared > 50
    # Each organisation's catalogue was read once, by its own credentials.
    assert sandbox.recorded.counts["POST /oauth/create_token"] == 2 and sandbox.recorded.counts["GET /vendors"] == 2
    assert sandbox.recorded.counts["GET /products"] == 2  # 250 products: one page each


def test_a_feed_of_an_organisation_without_credentials_is_refused_before_anything_is_fetched(tmp_path):
    sandbox = Sandbox.from_samples()
    sandbox.add_organisation(Organisation(3, "Sub-reseller", parent=2))
    sandbox.feeds[9] = {**sandbox.feeds[4], "id": 9, "organisation": 3, "name": "Third"}
    with RunningSandbox(sandbox) as running:
        conf = two_organisations(tmp_path, running.base_url)
        assert 9 in [f["id"] for f in __import__("json").loads(invoke("--config", conf, "list", "--json").stdout)]
        before = sandbox.recorded.counts["GET /products"]
        result = invoke("--config", conf, "run", "--id", "9")
        history = __import__("json").loads(invoke("--config", conf, "history", "--json").stdout)
    assert result.exit_code == 1
    assert "organisation 3 has no credentials" in result.output and "[organisations.3]" in result.output
    assert sandbox.recorded.counts["GET /products"] == before  # no catalogue read: not an ancestor's either
    assert not (tmp_path / "outbox" / "9").exists()
    assert history[0]["feed_id"] == 9 and history[0]["status"] == "failed"


def test_credentials_filed_under_the_wrong_organisation_are_a_settings_error(tmp_path):
    with RunningSandbox(Sandbox.from_samples()) as running:
        conf = two_organisations(tmp_path, running.base_url).replace("[organisations.2]", "[organisations.3]")
        write_settings(tmp_path / "feeds.toml", open(two_organisations(tmp_path, running.base_url)).read()
                       .replace("[organisations.2]", "[organisations.3]"))
        result = invoke("--config", conf, "list")
    assert result.exit_code == 2
    assert "[organisations.3] belong to organisation 2, not 3" in result.output


def test_a_run_by_hand_asks_whoami_and_reads_its_feed_once_and_its_errors_keep_their_place(tmp_path):
    sandbox = Sandbox.from_samples()
    with RunningSandbox(sandbox) as running:
        conf = two_organisations(tmp_path, running.base_url)
        result = invoke("--config", conf, "run", "--id", "1")
        assert result.exit_code == 0, result.output
        assert sandbox.recorded.counts["GET /whoami"] == 2  # one per credential set, asked beside the feed's read
        assert sandbox.recorded.counts["GET /feeds/{id}"] == 1
        unknown = invoke("--config", conf, "run", "--id", "99")
        assert unknown.exit_code == 1 and "feed 99" in unknown.output and "Traceback" not in unknown.output
        wrong = tmp_path / "wrong.toml"
        wrong.write_text(open(conf).read().replace("[organisations.2]", "[organisations.3]"))
        misfiled = invoke("--config", str(wrong), "run", "--id", "1")
    assert misfiled.exit_code == 2
    assert "[organisations.3] belong to organisation 2, not 3" in misfiled.output


def test_the_list_holds_every_credential_sets_feeds_once(tmp_path):
    sandbox = Sandbox.from_samples()
    with RunningSandbox(sandbox) as running:
        result = invoke("--config", two_organisations(tmp_path, running.base_url), "list", "--json")
    ids = [f["id"] for f in __import__("json").loads(result.stdout)]
    assert ids == [1, 2, 3, 4]  # feed 4 is seen by both credential sets, listed once


def test_environment_credentials_of_an_organisation(tmp_path):
    conf = write_settings(tmp_path / "f.toml", "[organisations.7]\nclient_id = \"seven\"\n")
    settings = load(str(conf), {"FEEDS_ORGANISATIONS_7_CLIENT_SECRET": "seven-secret"})
    assert settings.organisations[7].client_secret.get_secret_value() == "seven-secret"
    with pytest.raises(Exception, match="FEEDS_ORGANISATIONS_<ID>_CLIENT_SECRET"):
        load(str(conf), {"FEEDS_ORGANISATIONS_X_CLIENT_SECRET": "x"})


def test_an_organisations_catalogue_is_read_once_for_its_feeds_and_let_go_after_its_work(tmp_path):
    """Memory follows the catalogues in use: nothing of a catalogue outlives its organisation's work."""
    import gc

    sandbox = Sandbox.from_samples()
    for feed_id in (1, 2, 3):
        sandbox.feeds[feed_id].update(timeslot=150, active=True)
    with RunningSandbox(sandbox) as running:
        settings = load(two_organisations(tmp_path, running.base_url), {})
        with wiring.open_hubs(settings) as hubs, Ledger(settings.state.database_url) as ledger:
            now = datetime(2026, 11, 26, 2, 30, tzinfo=timezone.utc)
            daemon = wiring.daemon(settings, hubs, ledger, clock=lambda: now)
            gc.collect()
            before = {id(o) for o in gc.get_objects() if isinstance(o, Products)}  # other tests' (fixtures)
            (future,) = daemon.wake(now)  # feeds 1, 2, 3: one organisation, one piece of work
            runs = future.result(timeout=60)
            daemon.stop(0)
    statuses = {r.feed_id: r.status for r in runs}
    assert statuses == {1: "delivered", 2: "delivered", 3: "failed"}  # 3: SITC without [sitc]: before any send
    assert sandbox.recorded.counts["GET /products"] == 1  # 250 products: one page, read once for three feeds
    gc.collect()
    assert [o for o in gc.get_objects() if isinstance(o, Products) and id(o) not in before] == []


def test_catalogues_of_two_organisations_are_read_at_the_same_time(tmp_path):
    """Two credential sets' catalogues overlap in time, never more than hub.concurrency requests at once."""
    sandbox = Sandbox(latency=0.02, catalogue=Catalogue(count=3000))
    sandbox.add_organisation(Organisation(2, "Reseller", 1, Catalogue(count=3000, seed=2)),
                             RESELLER_CLIENT_ID, RESELLER_CLIENT_SECRET)
    with RunningSandbox(sandbox) as running:
        settings = load(two_organisations(tmp_path, running.base_url, concurrency=3), {})
        with wiring.open_hubs(settings) as hubs:
            hubs.identify()
            threads = [threading.Thread(target=load_catalogue, args=(c.client,)) for c in hubs.credentials]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    assert sandbox.recorded.most_in_flight == 3


def test_the_sandbox_shows_an_organisation_its_own_and_its_descendants_feeds_only(hub_server):
    base = hub_server.base_url
    form = {"client_id": RESELLER_CLIENT_ID, "client_secret": RESELLER_CLIENT_SECRET, "grant_type": "client_credentials"}
    auth = {"Authorization": "Bearer " + httpx.post(base + "/oauth/create_token", data=form).json()["access_token"]}
    assert httpx.get(base + "/whoami", headers=auth).json()["organisation"] == 2
    assert [f["id"] for f in httpx.get(base + "/feeds", headers=auth).json()] == [4]
    assert httpx.get(base + "/feeds/1", headers=auth).status_code == 404
    ancestors = {"organisation": 1, "name": "x", "timeslot": 0, "columns": ["name"], "delivery_method": "EMAIL",
                 "delivery_email": "x@example.com"}
    assert httpx.post(base + "/feeds", headers=auth, json=ancestors).status_code == 403
    prices = [p.get("price") for p in httpx.get(base + "/products?sort_by=%2Bname", headers=auth).json()]
    assert any(isinstance(p, float) and p != round(p, 1) for p in prices)  # its own prices, marked up
