"""The top of the program: the product's settings, and the parts built from them.

Every part declares the settings section it reads beside its own code and is
handed that section alone; this module is the one place that knows them all.
It composes ``Settings`` from the parts' sections and builds the parts: Hub
clients, the ledger, the deliveries, the environment of a run, the alerts,
the daemon. Only the command line and the daemon's start hold the whole
``Settings``; they call these functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import settings as loader
from .alerts import Alerts, AlertsSettings
from .archive import Archive
from .changes import GuardSettings
from .daemon.settings import ScheduleSettings
from .deliver import Deliveries, DeliverySettings, settings_sections
from .hub.settings import HubSettings, OrganisationCredentials
from .ledger.settings import StateSettings
from .web import WebSettings

if TYPE_CHECKING:
    from .daemon import Daemon, Service
    from .hub import Hubs
    from .ledger import Ledger
    from .runner import RunEnvironment

#: the product's settings: one field per section, each declared by the part that reads it (SPEC §8)
Settings: Any = loader.compose("Settings", {
    "hub": HubSettings,
    "organisations": dict[int, OrganisationCredentials],
    **settings_sections(),  # [smtp], [sitc], [ftps], [sftp]: the delivery methods' own
    "delivery": DeliverySettings,
    "schedule": ScheduleSettings,
    "guard": GuardSettings,
    "alerts": AlertsSettings,
    "web": WebSettings,
    "state": StateSettings,
})
SECTIONS = loader.sections_of(Settings)


def load_settings(option: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """The settings of ``--config`` (or ``$FEEDS_CONFIG``, ``./feeds.toml``) and the environment."""
    return loader.load(Settings, option, environ)


def open_hubs(settings: Settings, **client_options: Any) -> Hubs:
    """A Hub client for each credential set; Hub's error bodies mask the feed model's secret fields."""
    from .config import SECRET_FIELDS, raw_names
    from .hub import Hubs

    keys = frozenset(key for name in SECRET_FIELDS for key in raw_names(name))
    client_options.setdefault("secret_keys", keys)
    return Hubs.open(settings.hub, settings.organisations, **client_options)


def open_ledger(settings: Settings) -> Ledger:
    from .ledger import Ledger

    return Ledger(settings.state.database_url)


def deliveries(settings: Settings) -> Deliveries:
    """The dispatcher: ``[delivery]``, and each method with its own sections."""
    return Deliveries(settings.delivery, {name: getattr(settings, name) for name in settings_sections()})


def run_environment(settings: Settings) -> RunEnvironment:
    from .runner import RunEnvironment

    return RunEnvironment(deliveries(settings), settings.guard,
                          Archive(settings.state.archive_path, settings.state.archive_keep))


def alerts(settings: Settings) -> Alerts:
    return Alerts(settings.alerts, settings.smtp, settings.delivery.timeout)


def daemon(settings: Settings, hubs: Hubs, ledger: Ledger, **options: Any) -> Daemon:
    """The schedule over these Hub clients and this ledger (tests and benchmarks give their own)."""
    from .daemon import Daemon

    return Daemon(run_environment(settings), settings.schedule, hubs, ledger, alerts=alerts(settings), **options)


def service(settings: Settings, web_port: int | None = None, web_host: str = "127.0.0.1") -> Service:
    """``feeds daemon`` built: Hub clients, ledger, the daemon, and the status page when a port is given."""
    import logging

    from .daemon import Service
    from .errors import FeedsError, SettingsError, UsageError
    from .metrics import Metrics, serve
    from .web import StatusPages, check_binding, daemon_health
    from .webauth import guarded

    if web_port is not None:
        check_binding(web_host, settings.web)  # beyond loopback only with web.token: exit 2 before anything
    metrics = Metrics()
    hubs = open_hubs(settings, on_request=metrics.hub_request)
    try:
        hubs.identify()  # a table filed under the wrong organisation stops the start (exit 2)
    except SettingsError:
        raise
    except FeedsError as exc:  # Hub down at start: the wakes ask again
        logging.getLogger("feeds.daemon").warning(
            "could not ask Hub who the credentials belong to (%s); trying again at the next wake", exc)
    ledger = open_ledger(settings)
    built = daemon(settings, hubs, ledger, metrics=metrics)
    built.env.archive.clean_spool()
    server = None
    if web_port is not None:
        pages = StatusPages(open_ledger(settings), lambda: built.last_feeds, built.env.archive,
                            health=daemon_health(built.health))
        try:
            server = serve(metrics, built.health, web_host, web_port, pages,
                           guard=lambda app: guarded(app, settings.web), trusted_proxy=settings.web.trusted_proxy)
        except OSError as exc:
            raise UsageError(f"--web-port {web_port} cannot be used on {web_host}: {exc.strerror}") from None
        shown = f"[{web_host.strip('[]')}]" if ":" in web_host else web_host  # an IPv6 address in a URL
        logging.getLogger("feeds.daemon").info("status page, /metrics and /healthz on http://%s:%d/", shown,
                                               server.server_address[1])
    return Service(built, settings.schedule.shutdown_grace, server)
