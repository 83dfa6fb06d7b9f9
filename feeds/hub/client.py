"""The Hub API client: OAuth client credentials, paging, retries (SPEC §1).

One ``HubClient`` per process or per wake of the daemon. It is safe to share
between threads: the token is renewed under a lock, and a 429 seen by one
worker slows every worker down (a shared ``Throttle``), because Hub counts
requests per client, not per thread.

The transport is the seam for the in-process sandbox and for tests: any
``httpx.BaseTransport`` can stand in for the network. The network's own is
``bounded.transport()``: a chain of requests under a deadline (a run's, set
with ``bounded.within``) ends by it whatever Hub does, however slowly it
answers; the page threads carry the deadline of the chain that started them.
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from .. import __version__, bounded, redact, retry
from ..errors import HubError
from .answers import OAUTH_SECRET_KEYS, hub_says, with_saying
from .pacing import Throttle, parse_retry_after
from .settings import TOKEN_PATH, HubSettings

log = logging.getLogger("feeds.hub")

#: answers worth another try (SPEC §1; 500 too: Hub's 500s are mostly passing)
TRANSIENT_STATUS = {429, 500, 502, 503, 504}
#: a POST is only repeated when Hub surely did not act on it
POST_RETRY_STATUS = {429, 503}
MAX_PAGES = 100_000


class TransientHubError(HubError):
    """A failure worth another attempt; carries Hub's Retry-After when given."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Page:
    number: int
    items: list[Any]
    total_count: int | None
    total_pages: int | None


def _int_header(response: httpx.Response, name: str) -> int | None:
    try:
        value = int(response.headers.get(name, ""))
    except ValueError:
        return None
    return value if value >= 0 else None


class HubClient:
    """A client of the Hub API, configured by the ``[hub]`` settings."""

    def __init__(
        self,
        settings: HubSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        base_url: str | None = None,
        token_url: str | None = None,
        policy: retry.RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_request: Callable[[str, str, int | None], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        limiter: threading.Semaphore | None = None,
        credentials_name: str = "hub",
        secret_keys: frozenset[str] = frozenset(),
    ):
        self.settings = settings
        self.base_url = (base_url or settings.base_url).rstrip("/")
        self.token_url = token_url or settings.effective_token_url
        self._http = httpx.Client(
            transport=transport or bounded.transport(_tls_context()),
            timeout=httpx.Timeout(settings.timeout),
            headers={"Accept": "application/json", "User-Agent": f"feeds/{__version__}"},
            follow_redirects=False,
        )
        self._token: str | None = None
        self._token_deadline = 0.0
        self._token_lock = threading.Lock()
        self._sleep = sleep
        self._clock = clock
        self._policy = policy or retry.HUB.but(attempts=settings.attempts)
        #: keys whose values are masked in Hub's answers shown in messages
        self.secret_keys = OAUTH_SECRET_KEYS | secret_keys
        self.throttle = Throttle(sleep=sleep)
        self._on_request = on_request
        #: requests in flight, shared by the clients of every credential set (``hub.concurrency`` in all)
        self._limiter = limiter or threading.BoundedSemaphore(settings.concurrency)
        #: the settings table of these credentials, for messages: "hub" or "organisations.<id>"
        self.credentials_name = credentials_name
        redact.register(settings.client_secret)

    # --- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the API -------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """The authenticated user (``id``, ``name``, ``organisation``, ...): the reference's "currently authenticated user"."""
        return self._json_object("GET", "/whoami")

    def list_feeds(self, name: str | None = None, organisations: tuple[int, ...] | list[int] = ()) -> list[dict[str, Any]]:
        params: list[tuple[str, Any]] = []
        if name:
            params.append(("name", name))
        params.extend(("organisation", org) for org in organisations)
        feeds: list[dict[str, Any]] = []
        for page in self.iter_pages("/feeds", params):
            feeds.extend(item for item in page.items if isinstance(item, dict))
        return feeds

    def get_feed(self, feed_id: int) -> dict[str, Any]:
        return self._json_object("GET", f"/feeds/{int(feed_id)}")

    def create_feed(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._json_object("POST", "/feeds", json_body=body)

    def update_feed(self, feed_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return self._json_object("PUT", f"/feeds/{int(feed_id)}", json_body=body)

    def vendors(self) -> dict[int, str]:
        """Vendor id to name; only ``id`` and ``name`` are read (SPEC §1)."""
        names: dict[int, str] = {}
        for page in self.iter_pages("/vendors"):
            for item in page.items:
                if not isinstance(item, dict):
                    continue
                vid, name = item.get("id"), item.get("name")
                if isinstance(vid, int) and not isinstance(vid, bool):
                    names[vid] = name if isinstance(name, str) else ""
        return names

    def iter_pages(
        self,
        path: str,
        params: list[tuple[str, Any]] | None = None,
        *,
        loads: Callable[[bytes], Any] | None = None,
        concurrency: int | None = None,
    ) -> Iterator[Page]:
        """Every page of a list endpoint, in order.

        With ``X-Total-Pages`` on the first page, the other pages are read
        ``concurrency`` at a time; without it, pages are read one after the
        other until one is empty or shorter than ``per_page`` (SPEC §1).
        """
        per_page = min(self.settings.per_page, 1000)
        base = [p for p in (params or []) if p[0] not in ("page", "per_page")]
        workers = concurrency or self.settings.concurrency

        def fetch(number: int) -> Page:
            query = base + [("page", number), ("per_page", per_page)]
            response, data = self._request_json("GET", path, params=query, loads=loads)
            if not isinstance(data, list):
                raise HubError(f"Hub answered GET {path} page {number} with {type(data).__name__}, not a list")
            return Page(
                number,
                data,
                _int_header(response, "X-Total-Count"),
                _int_header(response, "X-Total-Pages"),
            )

        first = fetch(1)
        yield first
        if first.total_pages is not None:
            yield from self._rest_concurrently(fetch, first.total_pages, workers)
            return
        previous = first
        while len(previous.items) >= per_page and previous.items:
            if previous.number >= MAX_PAGES:
                raise HubError(f"Hub kept sending full pages of {path} past page {MAX_PAGES}; stopped reading")
            page = fetch(previous.number + 1)
            if page.items and page.items == previous.items:
                raise HubError(
                    f"Hub sent the same page of {path} twice (pages {previous.number} and {page.number}); "
                    "it seems to ignore the page parameter"
                )
            yield page
            previous = page

    def _rest_concurrently(self, fetch: Callable[[int], Page], total: int, workers: int) -> Iterator[Page]:
        if total <= 1:
            return
        total = min(total, MAX_PAGES)
        numbers = iter(range(2, total + 1))
        window: list[Future[Page]] = []
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hub-page") as pool:
            try:
                for number in numbers:
                    window.append(pool.submit(bounded.carried(fetch), number))
                    if len(window) >= workers * 2:
                        break
                while window:
                    page = window.pop(0).result()
                    nxt = next(numbers, None)
                    if nxt is not None:
                        window.append(pool.submit(bounded.carried(fetch), nxt))
                    yield page
            finally:
                for future in window:
                    future.cancel()

    # --- requests --------------------------------------------------------------

    def _json_object(self, method: str, path: str, json_body: Any = None) -> dict[str, Any]:
        _, data = self._request_json(method, path, json_body=json_body)
        if not isinstance(data, dict):
            raise HubError(f"Hub answered {method} {path} with {type(data).__name__}, not an object")
        return data

    def _request_json(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        loads: Callable[[bytes], Any] | None = None,
    ) -> tuple[httpx.Response, Any]:
        decode = loads or json.loads

        def once() -> tuple[httpx.Response, Any]:
            response = self._send(method, path, params=params, json_body=json_body)
            try:
                return response, decode(response.content)
            except (ValueError, RecursionError):
                raise TransientHubError(
                    f"Hub answered {method} {path} with a body that is not JSON", response.status_code
                ) from None

        return self._retrying(method, path, once)

    def _retrying(self, method: str, path: str, call: Callable[[], Any], idempotent: bool = False) -> Any:
        attempts = self._policy.attempts

        def retry_on(exc: BaseException) -> bool:
            if method == "POST" and not idempotent:
                if isinstance(exc, TransientHubError):
                    return exc.status in POST_RETRY_STATUS
                return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
            return isinstance(exc, (TransientHubError, httpx.TransportError))

        def pause(seconds: float) -> None:
            self._sleep(bounded.capped(seconds))  # the next attempt fails at once past the chain's deadline

        def pause_for(exc: BaseException) -> float | None:
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is None:
                return None
            self.throttle.hold(retry_after)
            return 0.0  # the throttle does the waiting, for every worker

        def on_retry(exc: BaseException, attempt: int) -> None:
            log.warning("Hub %s %s failed (%s); trying again (attempt %d of %d)", method, path, _describe(exc),
                        attempt, attempts)

        try:
            return self._policy.run(call, retry_on, sleep=pause, on_retry=on_retry, pause_for=pause_for)
        except bounded.DeadlinePassed as exc:
            raise exc.during(f"waiting for Hub's answer to {method} {path}") from None
        except TransientHubError as exc:
            raise HubError(f"{exc} after {attempts} attempts", exc.status) from None
        except httpx.TransportError as exc:
            raise HubError(
                f"Hub could not be reached for {method} {path} after {attempts} attempts ({_describe(exc)})"
            ) from None

    def _send(self, method: str, path: str, *, params: Any = None, json_body: Any = None) -> httpx.Response:
        """One request with a bearer token; a 401 renews the token once."""
        url = self.base_url + path
        token = self._bearer()
        response = self._raw(method, url, path, params=params, json_body=json_body, token=token)
        if response.status_code == 401:
            log.info("Hub refused the access token for %s %s; getting a new one", method, path)
            self._forget(token)
            token = self._bearer()
            response = self._raw(method, url, path, params=params, json_body=json_body, token=token)
            if response.status_code == 401:
                raise HubError(with_saying(f"Hub refused a fresh access token for {method} {path} (401)",
                                            hub_says(response.text, self.secret_keys)), 401)
        self._check(method, path, response)
        return response

    def _raw(self, method: str, url: str, path: str, *, params: Any, json_body: Any, token: str) -> httpx.Response:
        self.throttle.wait(bounded.left())
        bounded.check()
        status: int | None = None
        try:
            with bounded.acquired(self._limiter):
                response = self._http.request(
                    method, url, params=params, json=json_body, headers={"Authorization": f"Bearer {token}"}
                )
            status = response.status_code
            return response
        finally:
            if self._on_request:
                self._on_request(method, path, status)

    def _check(self, method: str, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        what = f"Hub answered {status} {response.reason_phrase} to {method} {path}"
        if status in TRANSIENT_STATUS:
            raise TransientHubError(what, status, parse_retry_after(response.headers.get("Retry-After")))
        raise HubError(with_saying(what, hub_says(response.text, self.secret_keys)), status)

    # --- the token -----------------------------------------------------------

    def _bearer(self) -> str:
        with bounded.acquired(self._token_lock):
            if self._token is None or self._clock() >= self._token_deadline:
                self._token, lifetime = self._retrying(
                    "POST", TOKEN_PATH, self._fetch_token, idempotent=True
                )
                margin = min(60.0, lifetime / 2)
                self._token_deadline = self._clock() + lifetime - margin
            return self._token

    def _forget(self, token: str) -> None:
        with self._token_lock:
            if self._token == token:
                self._token = None

    def _fetch_token(self) -> tuple[str, float]:
        form = {
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret.get_secret_value(),
            "grant_type": "client_credentials",
        }
        bounded.check()
        with bounded.acquired(self._limiter):
            response = self._http.post(self.token_url, data=form)
        if response.status_code in TRANSIENT_STATUS:
            raise TransientHubError(
                f"Hub's token endpoint answered {response.status_code}",
                response.status_code,
                parse_retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code in (400, 401, 403):
            name = self.credentials_name
            raise HubError(
                f"Hub refused the client credentials ({response.status_code}) for client_id "
                f"{self.settings.client_id!r}; check {name}.client_id and {name}.client_secret",
                response.status_code,
            )
        if response.status_code >= 400:
            raise HubError(with_saying(f"Hub's token endpoint answered {response.status_code}",
                                        hub_says(response.text, self.secret_keys)), response.status_code)
        try:
            data = response.json()
            token = data["access_token"]
            lifetime = float(data.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise HubError("Hub's token endpoint answered without an access_token") from None
        if not isinstance(token, str) or not token:
            raise HubError("Hub's token endpoint answered with an empty access_token")
        redact.register(token)
        return token, max(lifetime, 1.0)


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client: loading the CA certificates costs 50 ms each time."""
    return ssl.create_default_context()


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {exc}" if str(exc) else "connection failed"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed in the middle of the answer"
    if isinstance(exc, httpx.TransportError):
        return f"{type(exc).__name__}: {exc}"
    return redact.redact(str(exc))
