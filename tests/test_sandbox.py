"""The sandbox behaves as the reference says Hub behaves."""

from __future__ import annotations

import httpx
import pytest

from feeds.hub.sandbox import CLIENT_ID, CLIENT_SECRET, Catalogue
from feeds.hub.sandbox.data import VENDORS, product


def token(base: str) -> str:
    answer = httpx.post(base + "/oauth/create_token", data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                     "grant_type": "client_credentials"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    return body["access_token"]


@pytest.fixture
def api(hub_server):
    headers = {"Authorization": f"Bearer {token(hub_server.base_url)}"}
    return lambda method, path, **kw: httpx.request(method, hub_server.base_url + path, headers=headers, **kw)


@pytest.mark.parametrize("form, status", [
    ({"client_id": CLIENT_ID, "client_secret": "nope", "grant_type": "client_credentials"}, 401),
    ({"client_id": "other", "client_secret": CLIENT_SECRET, "grant_type": "client_credentials"}, 401),
    ({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "password"}, 400),
])
def test_token_endpoint_refuses_bad_requests(hub_server, form, status):
    assert httpx.post(hub_server.base_url + "/oauth/create_token", data=form).status_code == status


def test_every_call_needs_a_bearer_token(hub_server):
    for path in ["/whoami", "/feeds", "/feeds/1", "/products", "/vendors"]:
        assert httpx.get(hub_server.base_url + path).status_code == 401
        assert httpx.get(hub_server.base_url + path, headers={"Authorization": "Bearer forged"}).status_code == 401


def test_serves_the_sample_feeds(api):
    feeds = api("GET", "/feeds").json()
    assert [f["id"] for f in feeds] == [1, 2, 3, 4]
    assert [f["delivery_method"] for f in feeds] == ["EMAIL", "FTP", "SITC", "EMAIL"]
    assert [f["organisation"] for f in feeds] == [1, 1, 1, 2]  # organisation 1 sees its reseller's too
    assert feeds[1]["delivery_procotol"] == "SFTP"


def test_feed_filters_and_with_or(api, sandbox):
    sandbox.feeds[4] = {**sandbox.feeds[1], "id": 4, "organisation": 2, "name": "Other"}
    sandbox.feeds[5] = {**sandbox.feeds[1], "id": 5, "organisation": 3, "name": "Email feed"}
    ids = lambda q: [f["id"] for f in api("GET", "/feeds?" + q).json()]
    assert ids("organisation=2") == [4]
    assert ids("organisation=1&organisation=2") == [1, 2, 3, 4]
    assert ids("name=Email%20feed") == [1, 5]
    assert ids("name=Email%20feed&organisation=3") == [5]


def test_pagination_headers_and_cap(api, sandbox):
    sandbox.catalogue = Catalogue(count=2345)
    answer = api("GET", "/products?page=3&per_page=1000")
    assert answer.headers["X-Total-Count"] == "2345" and answer.headers["X-Total-Pages"] == "3"
    assert [p["id"] for p in answer.json()] == list(range(2001, 2346))
    assert api("GET", "/products?page=4&per_page=1000").json() == []
    assert api("GET", "/products?per_page=1001").status_code == 400
    assert api("GET", "/products?page=0").status_code == 400


def test_product_filters(api, sandbox):
    sandbox.catalogue = Catalogue(items=[
        {"id": 1, "name": "Desk Phone", "product_code": "DP-1", "vendor": 5, "type": 10, "price": 3},
        {"id": 2, "name": "Headset", "product_code": "HS-2", "vendor": 6, "type": 10, "price": 1},
        {"id": 3, "name": "Licence", "product_code": "LC-3", "type": 11, "price": 2},
    ])
    ids = lambda q: [p["id"] for p in api("GET", "/products?" + q).json()]
    assert ids("vendor=5") == [1]
    assert ids("vendor=5&vendor=-1") == [1, 3]
    assert ids("type=10&vendor=6") == [2]
    assert ids("text=hs-2") == [2]
    assert ids("text=phone") == [1]
    assert ids("sort_by=%2Bprice") == [2, 3, 1]
    assert api("GET", "/products?sort_by=colour").status_code == 400


def test_post_and_put_validate_like_hub(api, sandbox):
    good = {"organisation": 7, "name": "N", "timeslot": 30, "columns": ["name"],
            "delivery_method": "EMAIL", "delivery_email": "n@example.com"}
    created = api("POST", "/feeds", json=good)
    assert created.status_code == 201 and created.json()["id"] == 5
    bad = api("PUT", "/feeds/5", json={**good, "timeslot": 45})
    assert bad.status_code == 422 and "timeslot: 45 is not a multiple of 30 (try 30 or 60)" in bad.json()["errors"]
    assert api("PUT", "/feeds/99", json=good).status_code == 404
    assert api("POST", "/feeds", content=b"{nope").status_code == 400
    for i in range(9):
        assert api("POST", "/feeds", json={**good, "name": f"n{i}"}).status_code == 201
    full = api("POST", "/feeds", json={**good, "name": "eleventh"})
    assert full.status_code == 422 and "at most 10" in full.text


def test_vendors_have_id_and_name(api):
    vendors = api("GET", "/vendors").json()
    assert vendors == VENDORS


def test_me(api):
    assert api("GET", "/whoami").json()["organisation"] == 1


def test_generated_catalogue_is_deterministic_and_awkward():
    assert product(1, 10) == product(1, 10)
    assert product(1, 10) != product(2, 10)
    items = [product(1, i) for i in range(3000)]
    names = "".join(p["name"] for p in items)
    for awkward in [",", ";", '"', "\\", "\n", "\r\n", "\r", "\t", "é", "日本"]:
        assert awkward in names, awkward
    assert any("product_code" not in p for p in items)
    assert any(p.get("ean") is None for p in items)
    assert any("vendor" not in p for p in items) and any(p.get("vendor") == 999 for p in items)
    assert any(p.get("stock") is None for p in items) and any(p.get("stock") == 0 for p in items)
    assert any((p.get("stock") or 0) < 0 for p in items)
    assert any(p.get("subscription_type") for p in items)
    assert any(p.get("price") == 5 for p in items) and any(p.get("price") == 110.1 for p in items)


def test_latency_option(hub_server, sandbox):
    import time
    sandbox.latency = 0.2
    start = time.monotonic()
    httpx.get(hub_server.base_url + "/whoami")
    assert time.monotonic() - start >= 0.2


def test_random_faults_are_transient_statuses(hub_server, sandbox, api):
    sandbox.fault_rate = 1.0
    assert api("GET", "/whoami").status_code in (429, 500, 502, 503)
