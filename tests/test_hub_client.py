"""The Hub client against the sandbox over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from conftest import FAST_HUB
from feeds.errors import HubError
from feeds.hub.client import HubClient, parse_retry_after
from feeds.hub.sandbox import Catalogue, Fault, RunningSandbox, Sandbox

from conftest import hub_settings


def all_products(hub: HubClient) -> list[dict]:
    return [p for page in hub.iter_pages("/products") for p in page.items]


def test_token_is_fetched_once_and_reused(client, sandbox):
    client.whoami()
    client.list_feeds()
    client.get_feed(1)
    assert sandbox.recorded.token_count() == 1


def test_token_is_renewed_before_it_expires(hub_server, sandbox, sleeps):
    sandbox.token_lifetime = 200  # Hub says 200 s: renew 60 s before
    now = [1000.0]
    with HubClient(hub_settings(hub_server.base_url), sleep=sleeps, clock=lambda: now[0]) as hub:
        hub.whoami()
        now[0] += 139
        hub.whoami()
        assert sandbox.recorded.token_count() == 1
        now[0] += 2  # 141 s: within 60 s of expiry
        hub.whoami()
        assert sandbox.recorded.token_count() == 2


def test_a_401_gets_a_new_token_once_and_retries(client, sandbox):
    client.whoami()
    sandbox.add_fault(Fault("expire_tokens", path="/feeds"))
    assert len(client.list_feeds()) == 4
    assert sandbox.recorded.token_count() == 2


def test_token_expiring_in_the_middle_of_the_catalogue(hub_server, sandbox, sleeps):
    sandbox.catalogue = Catalogue(count=95)
    sandbox.add_fault(Fault("expire_tokens", page=4))
    with HubClient(hub_settings(hub_server.base_url, per_page=10, concurrency=1), sleep=sleeps) as hub:
        items = all_products(hub)
    assert [p["id"] for p in items] == list(range(1, 96))
    assert sandbox.recorded.token_count() == 2


def test_a_token_refused_twice_is_an_error(client, sandbox):
    client.whoami()
    sandbox.add_fault(Fault("expire_tokens", path="/whoami", times=2))
    with pytest.raises(HubError, match="refused a fresh access token"):
        client.whoami()


def test_wrong_credentials_are_refused_without_retry_and_without_the_secret(hub_server, sandbox, sleeps):
    settings = hub_settings(hub_server.base_url, client_secret="wrong-secret-value-123")
    with HubClient(settings, sleep=sleeps) as hub:
        with pytest.raises(HubError) as info:
            hub.whoami()
    message = str(info.value)
    assert "refused the client credentials (401)" in message and "hub.client_secret" in message
    assert "wrong-secret-value-123" not in message
    assert sandbox.recorded.token_count() == 1 and sleeps == []


def test_429_with_retry_after_is_honoured(client, sandbox, sleeps):
    sandbox.add_fault(Fault("status", path="/feeds", status=429, retry_after=7))
    assert len(client.list_feeds()) == 4
    assert any(6.5 <= s <= 7.01 for s in sleeps), sleeps


def test_a_500_then_success(client, sandbox, sleeps):
    sandbox.add_fault(Fault("status", path="/whoami", status=500))
    assert client.whoami()["organisation"] == 1
    assert sandbox.recorded.counts["GET /whoami"] == 2 and len(sleeps) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried(client, sandbox, status):
    sandbox.add_fault(Fault("status", path="/whoami", status=status, times=2))
    client.whoami()
    assert sandbox.recorded.counts["GET /whoami"] == 3


def test_a_burst_of_500s_longer_than_the_attempts_fails_clearly(client, sandbox):
    sandbox.add_fault(Fault("status", path="/whoami", status=500, times=-1))
    with pytest.raises(HubError, match=r"Hub answered 500 Internal Server Error to GET /whoami after 5 attempts"):
        client.whoami()
    assert sandbox.recorded.counts["GET /whoami"] == 5


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_client_errors_are_not_retried(client, sandbox, status):
    sandbox.add_fault(Fault("status", path="/whoami", status=status))
    with pytest.raises(HubError, match=f"Hub answered {status}"):
        client.whoami()
    assert sandbox.recorded.counts["GET /whoami"] == 1


def test_a_missing_feed_is_404_with_hubs_message(client):
    with pytest.raises(HubError) as info:
        client.get_feed(99)
    assert info.value.status == 404
    assert str(info.value) == "Hub answered 404 Not Found to GET /feeds/99: feed configuration 99 not found"


def test_a_refused_feed_says_hubs_errors_not_its_json(client):
    with pytest.raises(HubError) as info:
        client.create_feed({"organisation": 1, "name": "x", "timeslot": 45, "columns": ["name"],
                            "delivery_method": "EMAIL", "delivery_email": "a@example.com"})
    assert info.value.status == 422
    assert str(info.value) == ("Hub answered 422 Unprocessable Entity to POST /feeds: the feed configuration is "
                               "invalid; timeslot: 45 is not a multiple of 30 (try 30 or 60)")


@pytest.mark.parametrize("body, said", [
    ('{"message": "feed 9 not found"}', "feed 9 not found"),
    ('{"message": "invalid", "errors": {"name": ["is empty"], "timeslot": "45"}}', "invalid; name: is empty; timeslot: 45"),
    ('{"errors": [{"delivery_password": "hunter2 is too short"}]}', "delivery_password: ********"),
    ('{"errors": {"feeds": [{"delivery_password": "hunter2"}]}}', "feeds.delivery_password: ********"),
    ('{"error": "invalid_client", "error_description": "Client authentication failed"}', "Client authentication failed"),
    ('{"id": 3, "secret": "x"}', ""),
    ("[1, 2]", ""),
    ("<html><body>Bad gateway</body></html>", ""),
    ("Service down\nfor maintenance", "Service down for maintenance"),
    ('{"message": "' + "x" * 1000 + '"}', "x" * 300 + "…"),
])
def test_what_hub_says_is_its_text_never_its_json(body, said):
    from feeds.hub.answers import OAUTH_SECRET_KEYS, hub_says

    assert hub_says(body, OAUTH_SECRET_KEYS | {"delivery_password"}) == said


def test_a_timeout_is_retried(hub_server, sandbox, sleeps):
    sandbox.add_fault(Fault("delay", path="/whoami", seconds=1.5))
    with HubClient(hub_settings(hub_server.base_url, timeout=0.5), sleep=sleeps, policy=FAST_HUB) as hub:
        assert hub.whoami()["id"] == 5
    assert sandbox.recorded.counts["GET /whoami"] == 2


def test_a_connection_cut_in_the_middle_of_a_page_is_retried(hub_server, sandbox, sleeps):
    sandbox.catalogue = Catalogue(count=2500)
    sandbox.add_fault(Fault("reset", page=2))
    with HubClient(hub_settings(hub_server.base_url), sleep=sleeps, policy=FAST_HUB) as hub:
        items = all_products(hub)
    assert [p["id"] for p in items] == list(range(1, 2501))
    assert sandbox.recorded.counts["GET /products"] == 4


def test_malformed_json_is_retried_then_reported(client, sandbox):
    sandbox.add_fault(Fault("malformed", path="/feeds"))
    assert len(client.list_feeds()) == 4
    sandbox.add_fault(Fault("malformed", path="/feeds", times=-1))
    with pytest.raises(HubError, match="not JSON"):
        client.list_feeds()


def test_pages_are_read_in_order_with_the_headers(hub_server, sandbox, sleeps):
    sandbox.catalogue = Catalogue(count=1234)
    with HubClient(hub_settings(hub_server.base_url, per_page=100, concurrency=4), sleep=sleeps) as hub:
        pages = list(hub.iter_pages("/products"))
    assert [p.number for p in pages] == list(range(1, 14))
    assert [i["id"] for p in pages for i in p.items] == list(range(1, 1235))
    assert pages[0].total_count == 1234 and pages[0].total_pages == 13


@pytest.mark.parametrize("count, requests", [(95, 10), (100, 11), (0, 1)])
def test_without_pagination_headers_pages_are_read_until_short_or_empty(hub_server, sandbox, sleeps, count, requests):
    sandbox.catalogue = Catalogue(count=count)
    sandbox.add_fault(Fault("no_headers", times=-1))
    with HubClient(hub_settings(hub_server.base_url, per_page=10), sleep=sleeps) as hub:
        items = all_products(hub)
    assert len(items) == count
    assert sandbox.recorded.counts["GET /products"] == requests


def test_per_page_never_above_1000_and_the_sandbox_refuses_more(hub_server, sandbox):
    response = httpx.get(hub_server.base_url + "/products?per_page=1001", headers={"Authorization": "Bearer x"})
    assert response.status_code == 401  # no token: refused before anything else
    sandbox.recorded.requests.clear()
    with HubClient(hub_settings(hub_server.base_url)) as hub:
        list(hub.iter_pages("/products"))
    assert all("per_page=1000" in query for method, path, query in sandbox.recorded.requests if path == "/products")
    with HubClient(hub_settings(hub_server.base_url)) as hub:
        token = hub._bearer()
    refused = httpx.get(hub_server.base_url + "/products?per_page=1001", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 400 and "at most 1000" in refused.text


def test_unknown_and_missing_fields_are_tolerated(hub_server):
    sandbox = Sandbox(
        feeds={1: {"id": 1, "organisation": 1, "name": "F", "timeslot": 30, "columns": ["name"],
                   "delivery_method": "EMAIL", "delivery_email": "a@example.com", "brand_new": {"x": 1}}},
        catalogue=Catalogue(items=[{"id": 1, "product_code": "A", "surprise": [1, 2]}, {"id": 2}]),
    )
    with RunningSandbox(sandbox) as running, HubClient(hub_settings(running.base_url)) as hub:
        assert hub.get_feed(1)["brand_new"] == {"x": 1}
        assert len(all_products(hub)) == 2


def test_pages_can_be_decoded_by_another_decoder(client):
    page = next(client.iter_pages("/products", loads=lambda data: json.loads(data, parse_float=Decimal)))
    assert any(isinstance(p.get("price"), Decimal) for p in page.items)


def test_a_post_is_not_repeated_after_a_500(client, sandbox):
    sandbox.add_fault(Fault("status", path="/feeds", status=500))
    body = {"organisation": 3, "name": "New", "timeslot": 60, "columns": ["name"],
            "delivery_method": "EMAIL", "delivery_email": "n@example.com"}
    with pytest.raises(HubError):
        client.create_feed(body)
    assert sandbox.recorded.counts["POST /feeds"] == 1
    sandbox.add_fault(Fault("status", path="/feeds", status=503))
    assert client.create_feed(body)["id"] == 5
    assert sandbox.recorded.counts["POST /feeds"] == 3


def test_create_and_update_feeds(client, sandbox):
    body = {"organisation": 3, "name": "New", "timeslot": 60, "columns": ["name"],
            "delivery_method": "EMAIL", "delivery_email": "n@example.com"}
    created = client.create_feed(body)
    assert created["id"] == 5 and sandbox.feeds[5]["name"] == "New"
    updated = client.update_feed(5, {**body, "timeslot": 90})
    assert updated["timeslot"] == 90 and client.get_feed(5)["timeslot"] == 90


def test_hub_validation_errors_are_reported_with_the_body(client):
    with pytest.raises(HubError) as info:
        client.create_feed({"organisation": 1, "name": "x", "timeslot": 45, "columns": ["name"],
                            "delivery_method": "FTP", "delivery_procotol": "FTP", "delivery_server": "h.example.com",
                            "delivery_user": "u", "delivery_password": "never-shown-pw"})
    message = str(info.value)
    assert info.value.status == 422 and "timeslot: 45 is not a multiple of 30" in message
    assert "never-shown-pw" not in message


def test_a_429_slows_every_worker(hub_server, sandbox):
    sandbox.catalogue = Catalogue(count=800)
    sandbox.latency = 0.05  # 40 pages, 4 at a time: the reads last longer than the pause
    sandbox.add_fault(Fault("status", page=5, status=429, retry_after=1))
    with HubClient(hub_settings(hub_server.base_url, per_page=20, concurrency=4)) as hub:
        items = all_products(hub)
    assert len(items) == 800
    pages = [(t, page) for t, method, path, page in sandbox.recorded.arrivals if path == "/products"]
    refused_at = next(t for t, page in pages if page == 5)
    # Requests already on their way when the 429 came may still arrive just after it;
    # without the shared throttle the three other workers would go on reading pages all along.
    during_pause = [page for t, page in pages if refused_at + 0.2 < t < refused_at + 0.95]
    assert during_pause == [], during_pause
    assert any(page == 5 for t, page in pages if t >= refused_at + 0.95)


@pytest.mark.parametrize("value, expected", [("3", 3.0), ("0", 0.0), ("junk", None), (None, None), ("100000", 300.0)])
def test_retry_after_parsing(value, expected):
    assert parse_retry_after(value) == expected
