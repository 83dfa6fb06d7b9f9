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
from .websettings import WebSettings

if TYPE_CHECKING:
    from .daemon import Daemon, Service
    from .daemon.workers import WorkerSetup
    from .hub import Hubs
    from .hub.sandbox import Sandbox
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


def load_settings(option: str | None = None, environ: dict[str, str] | None = None,
                  required: bool = False) -> Settings:
    """The settings of ``--config`` (or ``$FEEDS_CONFIG``, ``./feeds.toml``) and the environment;
    ``required``: no settings file found is a settings error."""
    return loader.load(Settings, option, environ, required=required)


def _secret_keys() -> frozenset[str]:
    """The keys of a feed configuration that hold secrets, in every spelling: masked in Hub's answers."""
    from .config import SECRET_FIELDS, raw_names

    return frozenset(key for name in SECRET_FIELDS for key in raw_names(name))


def open_hubs(settings: Settings, **client_options: Any) -> Hubs:
    """A Hub client for each credential set; Hub's error bodies mask the feed model's secret fields."""
    from .hub import Hubs

    client_options.setdefault("secret_keys", _secret_keys())
    if settings.hub.is_sandbox and "sandbox" not in client_options:
        client_options["sandbox"] = builtin_sandbox(settings.state)
    return Hubs.open(settings.hub, settings.organisations, **client_options)


def builtin_sandbox(state: StateSettings) -> Sandbox:
    """``hub.base_url = "sandbox"``: the sample feeds, with uploads kept in the state folder between commands."""
    from .hub.sandbox import FeedStore, Sandbox
    from .hub.sandbox.store import FILE_NAME

    return Sandbox.from_samples(store=FeedStore(state.folder / FILE_NAME))


def open_ledger(settings: Settings) -> Ledger:
    from .ledger import Ledger

    return Ledger(settings.state.database_url)


def deliveries(settings: Settings) -> Deliveries:
    """The dispatcher: ``[delivery]``, and each method with its own sections."""
    return Deliveries(settings.delivery, {name: getattr(settings, name) for name in settings_sections()})


def archive(settings: Settings) -> Archive:
    return Archive(settings.state.archive_path, settings.state.archive_keep)


def lease(settings: Settings) -> Any:
    """How long a claim no live process vouches for holds (``schedule.lease_minutes``, at least a run's time)."""
    return settings.schedule.lease(settings.delivery.run_deadline_minutes)


def run_environment(settings: Settings) -> RunEnvironment:
    from .runner import RunEnvironment

    return RunEnvironment(deliveries(settings), settings.guard, archive(settings))


def alerts(settings: Settings) -> Alerts:
    return Alerts(settings.alerts, settings.smtp, settings.delivery.timeout)


def worker_setup(settings: Settings, worker: str) -> WorkerSetup:
    """What a worker process builds its parts from: the sections it reads, and this process's logging."""
    import logging

    from .daemon.workers import WorkerSetup

    feeds_log = logging.getLogger("feeds")
    text = not any(type(h.formatter).__name__ == "JsonFormatter" for h in logging.getLogger().handlers)
    return WorkerSetup(
        hub=settings.hub, organisations=dict(settings.organisations), secret_keys=_secret_keys(),
        delivery=settings.delivery, method_sections={name: getattr(settings, name) for name in settings_sections()},
        guard=settings.guard, state=settings.state, schedule=settings.schedule, worker=worker,
        log_level=feeds_log.getEffectiveLevel(), log_format="text" if text else "json", fleet=settings.state.shared,
    )


def daemon(settings: Settings, hubs: Hubs, ledger: Ledger, **options: Any) -> Daemon:
    """The schedule over these Hub clients and this ledger (tests and benchmarks give their own), with
    ``schedule.processes`` worker processes (1: the work is done in this process)."""
    import os
    import socket

    from .daemon import Daemon
    from .daemon.workers import Processes

    worker = f"{socket.gethostname()}:{os.getpid()}"
    count = settings.schedule.worker_processes
    if count > 1 and "pool" not in options:
        options["pool"] = Processes(worker_setup(settings, worker), count,
                                    Processes.threads_for(settings.schedule.max_parallel, count),
                                    settings.hub.concurrency)
        hubs.share_limit(options["pool"].limiter)  # the daemon's own reads count in hub.concurrency too
    env = run_environment(settings)
    if "pool" not in options:
        env.deliveries.prepare()  # the work is done in this process: prepared once, not in the first slot
    return Daemon(env, settings.schedule, hubs, ledger, alerts=alerts(settings), worker=worker, **options)


def service(settings: Settings, web_port: int | None = None, web_host: str = "127.0.0.1") -> Service:
    """``feeds daemon`` built: Hub clients, ledger, the daemon, and the status page when a port is given."""
    import logging
    from datetime import datetime, timezone

    from .config import HubFeed
    from .daemon import Service
    from .ledger import gone
    from .errors import FeedsError, SettingsError, UsageError
    from .metrics import Metrics, serve
    from .web import StatusPages, daemon_health
    from .websettings import check_binding
    from .webauth import guarded

    if web_port is not None:
        check_binding(web_host, settings.web)  # beyond loopback only with web.token: exit 2 before anything
    metrics = Metrics()
    options: dict[str, Any] = {}
    if settings.hub.is_sandbox:  # something to see at once: the first active feed moved into this slot
        options["sandbox"] = builtin_sandbox(settings.state)
        options["sandbox"].bring_due(datetime.now(timezone.utc))
    hubs = open_hubs(settings, on_request=metrics.hub_request, **options)
    try:
        hubs.identify()  # a table filed under the wrong organisation stops the start (exit 2)
    except SettingsError:
        raise
    except FeedsError as exc:  # Hub down at start: the wakes ask again
        logging.getLogger("feeds.daemon").warning(
            "could not ask Hub who the credentials belong to (%s); trying again at the next wake", exc)
    ledger = open_ledger(settings)
    logging.getLogger("feeds.daemon").info("ledger %s (%s)", settings.state.where, settings.origin("state", "database"))
    built = daemon(settings, hubs, ledger, metrics=metrics)
    built.env.archive.clean_spool(gone)
    if built.alerts is not None:
        built.alerts.start(ledger)  # alerts a stopped process left unsent go out now
    fleet = None
    if settings.state.shared:  # a PostgreSQL ledger: this daemon joins the fleet of that database (SPEC §14)
        from .daemon.fleet import Fleet, heartbeat_liveness

        fleet = Fleet(built, settings.state.database_url, settings.schedule.takeover_seconds)
        built.shop.liveness = heartbeat_liveness(ledger, settings.schedule.takeover_seconds)
        built.fleet_counts = fleet.counts
        metrics.queue_depth.set_function(lambda: fleet.counts()["queued"])
        metrics.daemons.set_function(lambda: fleet.counts()["daemons"])
    else:
        metrics.queue_depth.set_function(built.queue.depth)
        metrics.daemons.set(1)
    metrics.in_progress.set_function(built.pool.busy)
    server = None
    if web_port is not None:
        pages_ledger = open_ledger(settings)
        pages = StatusPages(pages_ledger, lambda: [HubFeed.read(raw) for raw in pages_ledger.listing.all()],
                            built.env.archive, health=daemon_health(built.health))
        try:
            server = serve(metrics, built.health, web_host, web_port, pages,
                           guard=lambda app: guarded(app, settings.web), trusted_proxy=settings.web.trusted_proxy)
        except OSError as exc:
            raise UsageError(f"--web-port {web_port} cannot be used on {web_host}: {exc.strerror}") from None
        shown = f"[{web_host.strip('[]')}]" if ":" in web_host else web_host  # an IPv6 address in a URL
        logging.getLogger("feeds.daemon").info("status page, /metrics and /healthz on http://%s:%d/", shown,
                                               server.server_address[1])
    return Service(built, settings.schedule.shutdown_grace, server, fleet, settings.schedule.worker_processes)
