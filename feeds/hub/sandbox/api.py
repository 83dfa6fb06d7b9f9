"""The sandbox's Hub API: a WSGI application that behaves as the reference says Hub does.

An OAuth token endpoint that refuses bad credentials, bearer checks,
pagination headers and the ``per_page`` cap, ANDed and ORed filters, and
validation of POSTed and PUT feed configurations answered with 422. Product
pages of a generated catalogue are cached, so that a large catalogue answers
like Hub's database rather than at the speed of generating it. Faults are
programmed with ``faults.Fault``. ``Recorded`` holds the test instruments:
what was asked, for tests and benchmarks to count; Hub has no such thing.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
import math
import random
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any, Iterable
from urllib.parse import parse_qs

from ...config import MAX_FEEDS_PER_ORGANISATION, check_feed
from .data import VENDORS, Catalogue
from .faults import Fault, cut
from .store import FeedStore

log = logging.getLogger("feeds.sandbox")

API_PREFIX = "/api/v1"
CLIENT_ID = "sandbox"
CLIENT_SECRET = "sandbox-secret"
#: the top organisation of the sandbox's tree (the distributor)
ROOT = 1
#: the second organisation of the samples: a reseller below organisation 1, with its own client and prices
RESELLER = 2
RESELLER_CLIENT_ID = "reseller"
RESELLER_CLIENT_SECRET = "reseller-secret"
TOKEN_PATH = "/oauth/create_token"
#: the paths of Hub's API that the sandbox serves (besides the token endpoint)
KNOWN_PATHS = re.compile(r"/whoami|/feeds|/feeds/\d+|/products|/vendors")
PER_PAGE_CAP = 1000
SAMPLE_FEED_FILE = re.compile(r"^(\d+)-[\w-]+\.json$")


@dataclass
class Recorded:
    """Test instruments: every request and token the sandbox saw (not part of Hub's API)."""

    #: "METHOD /path" -> requests (``/feeds/{id}`` for one feed)
    counts: Counter[str] = field(default_factory=Counter)
    #: (method, path, query string) of every request
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    #: (monotonic time, method, path, page) of every request, for timing tests
    arrivals: list[tuple[float, str, str, int | None]] = field(default_factory=list)
    #: every access token issued
    tokens: list[str] = field(default_factory=list)
    #: organisation -> first pages of its catalogue served: how often each catalogue was read
    catalogue_reads: Counter[int] = field(default_factory=Counter)
    #: requests being answered now, and the most there ever were at once
    in_flight: int = 0
    most_in_flight: int = 0

    def request(self, method: str, path: str, query: str, page: int | None) -> None:
        self.counts[f"{method} {path if not path.startswith('/feeds/') else '/feeds/{id}'}"] += 1
        self.requests.append((method, path, query))
        self.arrivals.append((time.monotonic(), method, path, page))

    def entered(self) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def left(self) -> None:
        self.in_flight -= 1

    def token_count(self) -> int:
        return self.counts["POST /oauth/create_token"]


@dataclass
class Organisation:
    """An organisation of the sandbox's tree, and the catalogue (with its prices) it sees."""

    id: int
    name: str
    parent: int | None = None
    #: None: the sandbox's main catalogue
    catalogue: Catalogue | None = None


def _default_organisations() -> dict[int, Organisation]:
    return {ROOT: Organisation(ROOT, "Sandbox Distribution")}


@dataclass
class Sandbox:
    """The sandbox's state and its WSGI entry point (``sandbox(environ, start_response)``).

    Organisations form a tree (Hub is multi-tier). A client's token acts for
    its organisation (``client_organisations``, organisation 1 when not
    listed): it sees the feeds of that organisation and its descendants, and
    the catalogue of that organisation alone. An organisation the sandbox has
    no entry for counts as a child of organisation 1.
    """

    feeds: dict[int, dict[str, Any]] = field(default_factory=dict)
    catalogue: Catalogue = field(default_factory=Catalogue)
    vendors: list[dict[str, Any]] = field(default_factory=lambda: [dict(v) for v in VENDORS])
    clients: dict[str, str] = field(default_factory=lambda: {CLIENT_ID: CLIENT_SECRET})
    client_organisations: dict[str, int] = field(default_factory=dict)
    organisations: dict[int, Organisation] = field(default_factory=_default_organisations)
    latency: float = 0.0
    token_lifetime: float = 3600.0
    advertised_lifetime: float | None = None
    fault_rate: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    me: dict[str, Any] = field(default_factory=lambda: {
        "id": 5, "name": "Sandbox User", "organisation": 1, "real_id": 5, "real_name": "Sandbox User",
        "currency": "GBP", "locale": "en", "timezone": "Europe/London", "admin": False, "root": False,
        "modules": ["WEBSTORE"], "permissions": [{"permission": "feed:edit", "parent": False}],
    })

    #: bytes of serialised product pages kept, so that a large generated catalogue answers like a database
    page_cache_bytes: int = 512 * 1024 * 1024
    #: where the feeds are kept between commands (the built-in sandbox's, beside the ledger); None: in memory
    store: FeedStore | None = None

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        if self.store is not None:
            self.feeds = self.store.load() or self.feeds
        self._pages: dict[tuple[Any, ...], bytes] = {}
        self._cached = 0
        self._tokens: dict[str, tuple[float, int]] = {}
        self._rng = random.Random(0)
        self.recorded = Recorded()

    # --- construction --------------------------------------------------------

    @classmethod
    def from_samples(cls, **options: Any) -> Sandbox:
        """A sandbox serving the sample feed configurations, with two organisations.

        Organisation 1 (client ``sandbox``) is the distributor, with feeds 1, 2
        and 3; organisation 2 (client ``reseller``), its reseller, has feed 4
        and its own prices for the same products.
        """
        sandbox = cls(feeds=load_sample_feeds(), **options)
        main = sandbox.catalogue
        reseller = Catalogue(count=main.count, seed=main.seed, items=main.items, price_factor=1.25)
        sandbox.add_organisation(Organisation(RESELLER, "Example Reseller Ltd", ROOT, reseller),
                                 RESELLER_CLIENT_ID, RESELLER_CLIENT_SECRET)
        return sandbox

    def add_organisation(self, organisation: Organisation, client_id: str | None = None,
                         client_secret: str | None = None) -> Organisation:
        """Add an organisation to the tree, with an API client when given."""
        with self._lock:
            self.organisations[organisation.id] = organisation
            if client_id is not None:
                self.clients[client_id] = client_secret or ""
                self.client_organisations[client_id] = organisation.id
        return organisation

    def parent_of(self, organisation: int) -> int | None:
        known = self.organisations.get(organisation)
        if known is not None:
            return known.parent
        return None if organisation == ROOT else ROOT

    def sees(self, viewer: int, organisation: Any) -> bool:
        """Whether ``viewer`` sees ``organisation``: itself or one of its descendants."""
        current = organisation if isinstance(organisation, int) and not isinstance(organisation, bool) else None
        seen: set[int] = set()
        while current is not None and current not in seen:
            if current == viewer:
                return True
            seen.add(current)
            current = self.parent_of(current)
        return False

    def catalogue_of(self, organisation: int) -> Catalogue:
        known = self.organisations.get(organisation)
        return known.catalogue if known is not None and known.catalogue is not None else self.catalogue

    def whoami(self, organisation: int) -> dict[str, Any]:
        if organisation == ROOT:
            return dict(self.me)
        name = self.organisations[organisation].name if organisation in self.organisations else f"Organisation {organisation}"
        return {**self.me, "id": 100 + organisation, "name": f"{name} API user", "organisation": organisation,
                "real_id": 100 + organisation, "real_name": f"{name} API user"}

    def bring_due(self, now: datetime) -> dict[str, Any] | None:
        """Move the first active feed into the slot of ``now``, kept as an upload would be; that feed, or None.

        The sample feeds' slots are at night: without this, a daemon started on the built-in sandbox to see
        what it does would have nothing to do until 02:30 UTC."""
        minutes = now.astimezone(timezone.utc).hour * 60 + now.astimezone(timezone.utc).minute
        with self._lock:
            self._refresh()
            active = [fid for fid in sorted(self.feeds) if self.feeds[fid].get("active", True) is not False]
            if not active:
                return None
            moved = self.feeds[active[0]] = {**self.feeds[active[0]], "timeslot": minutes - minutes % 30}
            if self.store is not None:
                self.store.save(self.feeds)
        log.info("sandbox: feed %s (%s) moved to timeslot %02d:%02d UTC, the slot this daemon started in, so that "
                 "it is delivered now", moved["id"], moved.get("name"), moved["timeslot"] // 60, moved["timeslot"] % 60)
        return moved

    def _refresh(self) -> None:
        """Read the feeds again when another process changed the store (call with the lock held)."""
        if self.store is not None and self.store.changed():
            self.feeds = self.store.load() or self.feeds

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    # --- WSGI ----------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if path == "/_sandbox/stats":  # test instrument, not Hub's: lets benchmarks count requests from outside
            with self._lock:
                return self._answer(start_response, 200, {"counts": dict(self.recorded.counts),
                                                          "tokens": len(self.recorded.tokens),
                                                          "catalogue_reads": dict(self.recorded.catalogue_reads)})
        if not path.startswith(API_PREFIX):
            return self._answer(start_response, 404, {"message": f"no such path {path}; the API is under {API_PREFIX}"})
        path = path[len(API_PREFIX):] or "/"
        page = _int(query.get("page", ["1"])[0])
        with self._lock:
            self.recorded.request(method, path, environ.get("QUERY_STRING", ""), page)
            self.recorded.entered()
            faults = [f for f in self.faults if f.matches(method, path, page)]
        try:
            return self._answer_request(method, path, query, page, environ, start_response, faults)
        finally:
            with self._lock:
                self.recorded.left()

    def _answer_request(self, method: str, path: str, query: dict[str, list[str]], page: int | None,
                        environ: dict[str, Any], start_response: Any, faults: list[Fault]) -> Iterable[bytes]:
        if self.latency:
            time.sleep(self.latency)
        headers_off = False
        corrupt: str | None = None
        for fault in faults:
            if fault.kind == "delay":
                time.sleep(fault.seconds)
            elif fault.kind == "status":
                extra = {"Retry-After": _retry_after(fault.retry_after)} if fault.retry_after is not None else {}
                return self._answer(start_response, fault.status, {"message": "sandbox fault"}, extra)
            elif fault.kind == "expire_tokens":
                with self._lock:
                    self._tokens.clear()
            elif fault.kind == "shift":
                with self._lock:
                    self.catalogue.shift(fault.remove)
            elif fault.kind == "no_headers":
                headers_off = True
            elif fault.kind in ("reset", "malformed", "wrong_types"):
                corrupt = fault.kind
        if self.fault_rate and path != TOKEN_PATH and self._rng.random() < self.fault_rate:
            status = self._rng.choice([429, 500, 502, 503])
            return self._answer(start_response, status, {"message": "sandbox random fault"},
                                {"Retry-After": "1"} if status == 429 else {})
        try:
            return self._route(method, path, query, environ, start_response, headers_off, corrupt)
        except _BadRequest as exc:
            return self._answer(start_response, exc.status, {"message": str(exc), **exc.extra})

    def _route(self, method: str, path: str, query: dict[str, list[str]], environ: dict[str, Any],
               start_response: Any, headers_off: bool, corrupt: str | None) -> Iterable[bytes]:
        if path == TOKEN_PATH:
            if method != "POST":
                raise _BadRequest(405, "use POST for the token endpoint")
            return self._answer(start_response, 200, self._token(environ))
        if not KNOWN_PATHS.fullmatch(path):
            raise _BadRequest(404, f"no such endpoint {method} {path}")
        viewer = self._authorise(environ)
        if path.startswith("/feeds"):
            with self._lock:
                self._refresh()
        if path == "/whoami" and method == "GET":
            return self._answer(start_response, 200, self.whoami(viewer))
        if path == "/feeds" and method == "GET":
            items = self._filter_feeds(query, viewer)
            return self._page(start_response, items, query, headers_off, corrupt)
        if path == "/feeds" and method == "POST":
            return self._answer(start_response, 201, self._save_feed(None, _body(environ), viewer))
        match = re.fullmatch(r"/feeds/(\d+)", path)
        if match:
            fid = int(match.group(1))
            with self._lock:
                if fid not in self.feeds or not self.sees(viewer, self.feeds[fid].get("organisation")):
                    raise _BadRequest(404, f"feed configuration {fid} not found")
                stored = self.feeds[fid]
            if method == "GET":
                return self._answer(start_response, 200, stored)
            if method == "PUT":
                return self._answer(start_response, 200, self._save_feed(fid, _body(environ), viewer))
            raise _BadRequest(405, f"{method} is not allowed on /feeds/{fid}")
        if path == "/products" and method == "GET":
            if query.get("page", ["1"]) == ["1"]:
                with self._lock:
                    self.recorded.catalogue_reads[viewer] += 1
            return self._products(start_response, query, headers_off, corrupt, self.catalogue_of(viewer))
        if path == "/vendors" and method == "GET":
            return self._page(start_response, list(self.vendors), query, headers_off, corrupt)
        raise _BadRequest(404, f"no such endpoint {method} {path}")

    # --- endpoints -----------------------------------------------------------

    def _token(self, environ: dict[str, Any]) -> dict[str, Any]:
        length = _int(environ.get("CONTENT_LENGTH") or "0") or 0
        form = parse_qs(environ["wsgi.input"].read(length).decode("utf-8", "replace"))
        grant = form.get("grant_type", [""])[0]
        if grant != "client_credentials":
            raise _BadRequest(400, "grant_type must be client_credentials", {"error": "unsupported_grant_type"})
        client_id = form.get("client_id", [""])[0]
        secret = form.get("client_secret", [""])[0]
        if not client_id or not secrets.compare_digest(self.clients.get(client_id, "\0"), secret):
            raise _BadRequest(401, "invalid client credentials", {"error": "invalid_client"})
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (time.monotonic() + self.token_lifetime, self.client_organisations.get(client_id, ROOT))
            self.recorded.tokens.append(token)
        advertised = self.advertised_lifetime if self.advertised_lifetime is not None else self.token_lifetime
        return {"access_token": token, "token_type": "Bearer", "expires_in": int(math.ceil(advertised))}

    def _authorise(self, environ: dict[str, Any]) -> int:
        """The organisation the request's token acts for; 401 without a live token."""
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        with self._lock:
            entry = self._tokens.get(token) if scheme == "Bearer" else None
            if entry is None or entry[0] < time.monotonic():
                self._tokens.pop(token, None)
                raise _BadRequest(401, "missing, unknown or expired access token", {"error": "invalid_token"})
            return entry[1]

    def _filter_feeds(self, query: dict[str, list[str]], viewer: int) -> list[dict[str, Any]]:
        with self._lock:
            items = [self.feeds[k] for k in sorted(self.feeds) if self.sees(viewer, self.feeds[k].get("organisation"))]
        if "name" in query:
            names = set(query["name"])
            items = [f for f in items if f.get("name") in names]
        if "organisation" in query:
            orgs = {_int(v) for v in query["organisation"]}
            items = [f for f in items if f.get("organisation") in orgs]
        return items

    def _save_feed(self, fid: int | None, body: Any, viewer: int) -> dict[str, Any]:
        check = check_feed(body)
        if check.errors:
            raise _BadRequest(422, "the feed configuration is invalid",
                              {"errors": [str(p) for p in check.errors]})
        with self._lock:
            org = body["organisation"]
            if not self.sees(viewer, org):
                raise _BadRequest(403, f"organisation {viewer} may not write feeds of organisation {org}")
            others = [f for k, f in self.feeds.items() if k != fid and f.get("organisation") == org]
            if len(others) >= MAX_FEEDS_PER_ORGANISATION:
                raise _BadRequest(422, f"organisation {org} already has {MAX_FEEDS_PER_ORGANISATION} feeds",
                                  {"errors": [f"organisation: at most {MAX_FEEDS_PER_ORGANISATION} feeds per organisation"]})
            if fid is None:
                fid = max(self.feeds, default=0) + 1
            stored = {k: v for k, v in body.items() if k not in ("id", "last_upload")}
            if "delivery_protocol" in stored and "delivery_procotol" not in stored:
                stored["delivery_procotol"] = stored.pop("delivery_protocol")
            stored = {"id": fid, **stored, "last_upload": self.feeds.get(fid, {}).get("last_upload")}
            self.feeds[fid] = stored
            if self.store is not None:
                self.store.save(self.feeds)
            return stored

    def _products(self, start_response: Any, query: dict[str, list[str]], headers_off: bool,
                  corrupt: str | None, catalogue: Catalogue) -> Iterable[bytes]:
        sort = query.get("sort_by", [])
        by_name = sort == ["+name"]
        filtered = any(k in query for k in ("vendor", "type", "text")) or (sort and not by_name)
        if not filtered:
            page, per_page = _paging(query)
            start, stop = (page - 1) * per_page, page * per_page
            cacheable = corrupt is None and (by_name or not catalogue.moving)
            with self._lock:
                total = len(catalogue)
                key = (id(catalogue), catalogue.version, by_name, page, per_page, total)
                body = self._pages.get(key) if cacheable else None
                if body is None:
                    items = catalogue.by_name(start, stop) if by_name else catalogue.slice(start, stop)
            headers = self._page_headers(total, per_page, headers_off)
            if body is not None:
                return self._answer(start_response, 200, body, headers)
            if cacheable:
                body = json.dumps(items, ensure_ascii=False).encode("utf-8")
                with self._lock:
                    if self._cached + len(body) <= self.page_cache_bytes:
                        self._pages[key] = body
                        self._cached += len(body)
                return self._answer(start_response, 200, body, headers)
            return self._page_of(start_response, items, total, page, per_page, headers_off, corrupt)
        with self._lock:
            items = catalogue.everything()
        if "vendor" in query:
            wanted = {_int(v) for v in query["vendor"]}
            items = [p for p in items if (p.get("vendor") if p.get("vendor") is not None else -1) in wanted]
        if "type" in query:
            wanted = {_int(v) for v in query["type"]}
            items = [p for p in items if (p.get("type") if p.get("type") is not None else -1) in wanted]
        if "text" in query:
            text = query["text"][0].lower()
            items = [p for p in items if text in str(p.get("name") or "").lower()
                     or text in str(p.get("product_code") or "").lower()]
        for key in reversed(query.get("sort_by", [])):
            field_name = key.lstrip("+-")
            if field_name not in ("name", "price", "popularity"):
                raise _BadRequest(400, f"sort_by {key!r} is not one of -popularity, -name, +name, -price, +price")
            if field_name == "popularity":
                continue
            items.sort(key=lambda p: (p.get(field_name) is None, p.get(field_name) or 0 if field_name == "price" else str(p.get(field_name) or "")),
                       reverse=key.startswith("-"))
        return self._page(start_response, items, query, headers_off, corrupt)

    def _page(self, start_response: Any, items: list[dict[str, Any]], query: dict[str, list[str]],
              headers_off: bool, corrupt: str | None) -> Iterable[bytes]:
        page, per_page = _paging(query)
        chunk = items[(page - 1) * per_page: page * per_page]
        return self._page_of(start_response, chunk, len(items), page, per_page, headers_off, corrupt)

    def _page_of(self, start_response: Any, items: list[dict[str, Any]], total: int, page: int, per_page: int,
                 headers_off: bool, corrupt: str | None) -> Iterable[bytes]:
        headers = self._page_headers(total, per_page, headers_off)
        if corrupt == "wrong_types" and items:
            items = [dict(p) for p in items]
            items[0].update({"price": "twelve", "name": None, "stock": -5})
        body = json.dumps(items, ensure_ascii=False).encode("utf-8")
        if corrupt == "malformed":
            body = body[: max(1, len(body) // 2)]
        if corrupt == "reset":
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                      *headers.items()])
            return cut(body)
        return self._answer(start_response, 200, body, headers)

    @staticmethod
    def _page_headers(total: int, per_page: int, off: bool) -> dict[str, str]:
        if off:
            return {}
        return {"X-Total-Count": str(total), "X-Total-Pages": str(max(1, math.ceil(total / per_page)))}

    # --- answers -------------------------------------------------------------

    def _answer(self, start_response: Any, status: int, body: Any, headers: dict[str, str] | None = None) -> list[bytes]:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
        start_response(
            f"{status} {phrase}",
            [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(data))),
             *(headers or {}).items()],
        )
        return [data]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.extra = extra or {}


def _retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _int(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _paging(query: dict[str, list[str]]) -> tuple[int, int]:
    page = _int(query.get("page", ["1"])[0])
    per_page = _int(query.get("per_page", [str(PER_PAGE_CAP)])[0])
    if page is None or page < 1:
        raise _BadRequest(400, "page must be a whole number from 1")
    if per_page is None or per_page < 1:
        raise _BadRequest(400, "per_page must be a whole number from 1")
    if per_page > PER_PAGE_CAP:
        raise _BadRequest(400, f"per_page must be at most {PER_PAGE_CAP}")
    return page, per_page


def _body(environ: dict[str, Any]) -> Any:
    length = _int(environ.get("CONTENT_LENGTH") or "0") or 0
    raw = environ["wsgi.input"].read(length)
    try:
        return json.loads(raw)
    except ValueError:
        raise _BadRequest(400, "the request body is not JSON") from None

def load_sample_feeds() -> dict[int, dict[str, Any]]:
    """The sample feed configurations: ``sample_configs/feeds/<id>-<name>.json``."""
    folder = importlib.resources.files("feeds.sample_configs") / "feeds"
    feeds: dict[int, dict[str, Any]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        match = SAMPLE_FEED_FILE.match(entry.name)
        if match:
            fid = int(match.group(1))
            feeds[fid] = {"id": fid, **json.loads(entry.read_text(encoding="utf-8"))}
    return feeds
