"""Organisations and their credentials (SPEC §10): one Hub client per credential set.

Hub is multi-tier: an organisation's credentials also see the feed
configurations of its descendants, but the catalogue Hub returns, prices
included, is always the authenticated organisation's own. So a feed must be
rendered from the catalogue of its own organisation's credentials, never from
an ancestor's: that would leak the ancestor's buy prices.

``Hubs`` holds the credential sets of the settings: ``[hub]`` (the default)
and each ``[organisations.<id>]`` table. It learns each set's organisation
from ``GET /whoami`` (a table whose ``<id>`` differs is a settings error),
lists the feeds of every set once, and finds the credentials of a feed's
organisation. All its clients share one limit of ``hub.concurrency``
requests in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ConfigError, HubError, SettingsError
from .client import HubClient
from .settings import HubSettings, OrganisationCredentials

T = TypeVar("T")


@dataclass
class Credentials:
    """One credential set: the settings table it comes from, its client, and whom Hub says it is."""

    table: str  #: "hub" or "organisations.<id>"
    client: HubClient
    expected: int | None = None  #: the <id> of an [organisations.<id>] table
    organisation: int | None = None  #: from whoami
    user: str = ""

    @property
    def label(self) -> str:
        return f"[{self.table}]"


def missing_credentials(organisation: int) -> str:
    return (f"organisation {organisation} has no credentials in the settings, and a feed is only rendered from "
            f"its own organisation's catalogue; add an [organisations.{organisation}] table with its client_id "
            f"and client_secret (the secret better as FEEDS_ORGANISATIONS_{organisation}_CLIENT_SECRET)")


def unknown_feed(feed_id: int) -> str:
    return f"no feed {feed_id} on Hub for these credentials; `feeds list` shows the feeds"


def check_credentials(hub: HubSettings, organisations: Mapping[int, OrganisationCredentials]) -> None:
    """An empty client_id or client_secret of a credential set in use is a settings error, found before any
    request (Hub would only answer 401). ``[hub]`` is in use when it has a client_id or there is no table."""
    sets: list[tuple[str, str, OrganisationCredentials | HubSettings]] = []
    if hub.client_id or not organisations:
        sets.append(("hub", "FEEDS_HUB", hub))
    sets += [(f"organisations.{number}", f"FEEDS_ORGANISATIONS_{number}", table)
             for number, table in sorted(organisations.items())]
    for name, variable, table in sets:
        if not table.client_id.strip():
            raise SettingsError(f"{name}.client_id is empty: set it to the API client's id from Hub in [{name}] "
                                f"of the settings file or in {variable}_CLIENT_ID")
        if not table.client_secret.get_secret_value().strip():
            raise SettingsError(f"{name}.client_secret is empty: set {variable}_CLIENT_SECRET (for a command, "
                                "feeds --env-file FILE reads it from the service's environment file)")


class Hubs:
    """Every credential set of the settings, each with the organisation Hub says it is."""

    def __init__(self, credentials: list[Credentials]):
        if not credentials:
            raise SettingsError("no Hub credentials are set: set hub.client_id and hub.client_secret, "
                                "or an [organisations.<id>] table")
        self.credentials = credentials
        self._identified = False
        self._lock = threading.Lock()

    @classmethod
    def open(cls, hub: HubSettings, organisations: Mapping[int, OrganisationCredentials],
             **client_options: Any) -> Hubs:
        """A client per credential set (``[hub]``, each ``[organisations.<id>]``); ``hub.base_url = "sandbox"``
        shares one in-process sandbox."""
        from . import open_hub  # lazy: hub/__init__ imports this module

        check_credentials(hub, organisations)
        options = dict(client_options)
        if hub.is_sandbox and "sandbox" not in options:
            from .sandbox import Sandbox  # lazy: only the sandbox set-up loads the sandbox

            options["sandbox"] = Sandbox.from_samples()
        options.setdefault("limiter", threading.BoundedSemaphore(hub.concurrency))
        sets: list[Credentials] = []
        if hub.client_id or not organisations:
            sets.append(Credentials("hub", open_hub(hub, **options)))
        for organisation, table in sorted(organisations.items()):
            name = f"organisations.{organisation}"
            scoped = hub.model_copy(update={"client_id": table.client_id, "client_secret": table.client_secret})
            sets.append(Credentials(name, open_hub(scoped, credentials_name=name, **options), expected=organisation))
        return cls(sets)

    @classmethod
    def of(cls, *clients: HubClient) -> Hubs:
        """Credential sets from clients made elsewhere (tests, benchmarks): each is [hub]-like."""
        return cls([Credentials("hub" if i == 0 else f"hub#{i + 1}", client) for i, client in enumerate(clients)])

    def share_limit(self, limiter: Any = None) -> None:
        """Bound every client's requests in flight by ``limiter`` (a daemon's worker processes share one, so
        that ``hub.concurrency`` holds for the whole daemon); None: a limit of their own again."""
        limiter = limiter or threading.BoundedSemaphore(self.credentials[0].client.settings.concurrency)
        for credentials in self.credentials:
            credentials.client._limiter = limiter

    # --- identity ----------------------------------------------------------------

    def _each(self, work: Callable[[Credentials], T]) -> list[T]:
        """``work`` for every credential set, several at once (the clients' limiter bounds the requests)."""
        if len(self.credentials) == 1:
            return [work(self.credentials[0])]
        with ThreadPoolExecutor(max_workers=min(len(self.credentials), 16), thread_name_prefix="credentials") as pool:
            return list(pool.map(work, self.credentials))

    def identify(self) -> list[Credentials]:
        """Ask Hub who each credential set is (once); SettingsError when a table is filed under another id."""
        with self._lock:
            if not self._identified:
                answers = self._each(lambda c: c.client.whoami() if c.organisation is None else None)
                for credentials, me in zip(self.credentials, answers):
                    if me is not None:
                        organisation = me.get("organisation")
                        if not isinstance(organisation, int) or isinstance(organisation, bool):
                            raise HubError(f"Hub's whoami for {credentials.label} has no organisation id")
                        credentials.organisation = organisation
                        name = me.get("name")
                        credentials.user = name if isinstance(name, str) else ""
                for credentials in self.credentials:
                    if credentials.expected is not None and credentials.organisation != credentials.expected:
                        raise SettingsError(
                            f"the credentials in {credentials.label} belong to organisation "
                            f"{credentials.organisation}, not {credentials.expected}; move them to "
                            f"[organisations.{credentials.organisation}] or set organisation "
                            f"{credentials.expected}'s own client_id and client_secret"
                        )
                self._identified = True
        return self.credentials

    def for_organisation(self, organisation: int | None) -> Credentials:
        """The credentials of ``organisation``; ConfigError when it has none (never another's)."""
        sets = self.identify()
        if organisation is None:
            raise ConfigError("the feed has no usable organisation, so no catalogue can be chosen for it")
        own = [c for c in sets if c.organisation == organisation]
        if not own:
            raise ConfigError(missing_credentials(organisation))
        return min(own, key=lambda c: c.expected is None)  # an [organisations.<id>] table before [hub]

    @property
    def default(self) -> HubClient:
        return self.credentials[0].client

    # --- feeds of every set ---------------------------------------------------------

    def list_feeds(self, organisations: tuple[int, ...] | list[int] = ()) -> list[dict[str, Any]]:
        """The feeds every credential set sees, each once (by id), in id order."""
        seen: dict[Any, dict[str, Any]] = {}
        for feeds in self._each(lambda c: c.client.list_feeds(organisations=organisations)):
            for feed in feeds:
                seen.setdefault(feed.get("id"), feed)
        return sorted(seen.values(), key=lambda f: f["id"] if isinstance(f.get("id"), int) else float("inf"))

    def read_ahead(self, feed_id: int) -> Callable[[], dict[str, Any] | None]:
        """Ask Hub who each credential set is and read feed ``feed_id``, both at once and in the background,
        while the caller loads what it needs (``feeds run``: one round trip less, and the imports hidden behind
        the network). The function returned waits for both and gives the feed, or None when either failed: the
        caller then asks again where the error belongs (``identify``, ``get_feed``)."""
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="read-ahead")
        who, feed = pool.submit(self.identify), pool.submit(self.get_feed, feed_id)
        pool.shutdown(wait=False)

        def result() -> dict[str, Any] | None:
            if who.exception() is not None or feed.exception() is not None:
                return None
            return feed.result()

        return result

    def get_feed(self, feed_id: int) -> dict[str, Any]:
        """A feed from the first credential set that sees it; when none does (each answers 403 or 404), one
        sentence saying so, not Hub's answers."""
        for credentials in self.credentials:
            try:
                return credentials.client.get_feed(feed_id)
            except HubError as exc:
                if exc.status not in (403, 404):
                    raise
        raise HubError(unknown_feed(feed_id), 404)

    def client_for_upload(self, organisation: int) -> HubClient:
        """The client to create or update a feed of ``organisation`` with: its own, else the default."""
        for credentials in self.credentials:
            if credentials.expected == organisation:
                return credentials.client
        return self.default

    # --- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        for credentials in self.credentials:
            credentials.client.close()

    def __enter__(self) -> Hubs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def as_hubs(hub: Hubs | HubClient) -> Hubs:
    """Callers with one client (tests) get a credential set of it."""
    return hub if isinstance(hub, Hubs) else Hubs.of(hub)
