"""The command line (SPEC §7): parse, call, print.

Exit status: 0 success; 1 the work failed (an invalid configuration, a failed
delivery); 2 wrong usage or unusable settings. Errors are one sentence on
stderr; a traceback only with -v.

Each command imports what it uses inside its function: ``feeds validate``
and ``feeds schema`` load neither the settings nor SQLAlchemy, httpx and
paramiko. The parts are built from the settings by ``wiring.py``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from contextlib import ExitStack
from typing import Any

import click

from . import __version__, collector, logs, redact
from .errors import FeedsError, UsageError

log = logging.getLogger("feeds.cli")


class App:
    """What every command shares: the settings (read when first needed), the --env-file variables and -v."""

    def __init__(self, config_path: str | None, verbose: int, log_format: str,
                 env_file: dict[str, str] | None = None):
        self.config_path = config_path
        self.verbose = verbose
        self.log_format = log_format
        self.env_file = env_file or {}
        self._settings = None

    @property
    def settings(self):
        """Commands that read Hub or the ledger need a settings file: without one, exit 2 before any request."""
        if self._settings is None:
            from . import wiring

            environ = {**os.environ, **self.env_file}  # --env-file wins: it is the more explicit
            self._settings = wiring.load_settings(self.config_path, environ, required=True)
        return self._settings

    def ledger_line(self) -> str:
        """Which ledger this command reads, and which setting chose it."""
        return f"ledger {self.settings.state.where} ({self.settings.origin('state', 'database')})"

    def hubs(self):
        """A Hub client for each credential set of the settings."""
        from . import wiring

        return wiring.open_hubs(self.settings)

    def ledger(self):
        """The ledger, with what a killed process of this host left in it settled first."""
        from . import wiring
        from .ledger import gone

        log.info("%s", self.ledger_line())
        ledger = wiring.open_ledger(self.settings)
        try:
            ledger.settle_the_dead()
            wiring.archive(self.settings).clean_spool(gone)
        except Exception:
            ledger.close()
            raise
        return ledger


pass_app = click.make_pass_decorator(App)


def _out(text: str = "") -> None:
    click.echo(redact.redact(text))


def _err(text: str) -> None:
    click.echo(redact.redact(text), err=True)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(redact.redact_data(data), indent=2, ensure_ascii=False, default=str))


class FeedsGroup(click.Group):
    """Turns the errors a user can act on into one sentence and an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FeedsError as exc:
            app = ctx.find_object(App)
            if app is not None and app.verbose:
                _err(traceback.format_exc())
            _err(f"error: {exc}")
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            _err("error: interrupted")
            ctx.exit(130)
        except Exception as exc:  # a bug: say so plainly, the traceback only with -v
            app = ctx.find_object(App)
            if app is not None and app.verbose:
                _err(traceback.format_exc())
            _err(f"error: unexpected {type(exc).__name__}: {exc} (this is a bug in feeds; run with -v for details)")
            ctx.exit(1)


@click.group(cls=FeedsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="FILE", help="Settings file (default: $FEEDS_CONFIG, else ./feeds.toml).")
@click.option("--env-file", "env_file", metavar="FILE",
              help="Read FEEDS_* variables from FILE (NAME=value lines, as the service's EnvironmentFile); "
                   "they win over the environment.")
@click.option("-v", "--verbose", count=True, help="Show more: -v progress and retries, -vv everything.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Log lines as text or one JSON object per line.")
@click.version_option(__version__, prog_name="feeds")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, env_file: str | None, verbose: int, log_format: str) -> None:
    """Generate and deliver Hub stock and price feeds."""
    # Everything feeds writes (the state database, archive, outbox, host keys) is the owner's
    # alone, 0600 and folders 0700, whatever umask it was started with (SPEC §11).
    os.umask(0o077)
    logs.configure(verbose, log_format)
    variables = None
    if env_file is not None:
        from .settings import read_env_file

        variables = read_env_file(env_file)  # a bad file is exit 2 whatever the command
    ctx.obj = App(config_path, verbose, log_format, variables)


# --- configurations ------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, metavar="PATH...")
@click.option("--remote", is_flag=True, help="Validate the configurations stored on Hub instead of files.")
@click.option("--id", "feed_id", type=int, help="With --remote: only this feed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file (or feed).")
@pass_app
def validate(app: App, paths: tuple[str, ...], remote: bool, feed_id: int | None, as_json: bool) -> None:
    """Validate feed configurations: JSON files (one object or a list; - for stdin)."""
    from . import reports as checked

    if remote:
        if paths:
            raise click.UsageError("give either PATH... or --remote, not both")
        with app.hubs() as hubs:
            reports = checked.check_remote(hubs, feed_id)
    else:
        if feed_id is not None:
            raise click.UsageError("--id goes with --remote")
        if not paths:
            raise click.UsageError("give at least one JSON file to validate (or - for stdin, or --remote)")
        reports = checked.check_paths(list(paths))
    if as_json:
        _print_json([r.to_json() for r in reports])
    else:
        for report in reports:
            _out(report.to_text())
    sys.exit(checked.exit_status(reports))


@cli.command()
def schema() -> None:
    """Print the JSON Schema of a feed configuration."""
    from .config import json_schema

    _print_json(json_schema())


@cli.command()
@click.argument("path", metavar="PATH")
@click.option("--dry-run", is_flag=True, help="Validate and show what would be sent; send nothing.")
@pass_app
def upload(app: App, path: str, dry_run: bool) -> None:
    """Validate, then create (no id) or update (id) feed configurations on Hub."""
    from .reports import uploadable

    feeds = uploadable(path)
    if dry_run:
        for feed in feeds:
            verb = f"update feed {feed.id}" if feed.id is not None else "create a new feed"
            _out(f"would {verb}: {feed.name!r} (organisation {feed.organisation}, {feed.delivery_method})")
        return
    with app.hubs() as hubs:
        for feed in feeds:
            hub = hubs.client_for_upload(feed.organisation)
            if feed.id is None:
                saved = hub.create_feed(feed.to_hub())
                _out(f"created feed {saved.get('id')}: {feed.name!r}")
            else:
                saved = hub.update_feed(feed.id, feed.to_hub())
                _out(f"updated feed {saved.get('id', feed.id)}: {feed.name!r}")


@cli.command("list")
@click.option("--organisation", "organisations", type=int, multiple=True, help="Only this organisation (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of configurations, secrets masked.")
@pass_app
def list_feeds(app: App, organisations: tuple[int, ...], as_json: bool) -> None:
    """List the feed configurations on Hub."""
    from .config import masked
    from .views import feeds_table

    with app.hubs() as hubs:
        hubs.identify()  # credentials filed under the wrong organisation are a settings error
        feeds = [masked(f) for f in hubs.list_feeds(organisations=organisations)]
    if as_json:
        _print_json(feeds)
    else:
        feeds_table(feeds)


@cli.command()
@click.argument("feed_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="The configuration as JSON, secrets masked.")
@pass_app
def show(app: App, feed_id: int, as_json: bool) -> None:
    """Show one feed configuration (secrets masked)."""
    from .config import masked
    from .views import feed_details

    with app.hubs() as hubs:
        feed = masked(hubs.get_feed(feed_id))
    if as_json:
        _print_json(feed)
    else:
        feed_details(feed)


# --- runs ------------------------------------------------------------------------


@cli.command()
@click.option("--id", "feed_id", type=int, required=True, help="The feed to run.")
@click.option("--dry-run", is_flag=True, help="Render the file and send nothing.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="With --dry-run: write the file here (default stdout).")
@click.option("--force", is_flag=True, help="Run an inactive feed too.")
@click.option("--no-guard", is_flag=True, help="Send the file even if it looks broken beside the last delivery.")
@pass_app
def run(app: App, feed_id: int, dry_run: bool, output: str | None, force: bool, no_guard: bool) -> None:
    """Run one feed now, whatever its timeslot."""
    if output and not dry_run:
        raise click.UsageError("--output goes with --dry-run")
    with ExitStack() as stack:
        once = stack.enter_context(logs.said_once("feeds.run", app.log_format))  # the summary or its log line
        hub = stack.enter_context(app.hubs())
        read = hub.read_ahead(feed_id)  # Hub answers while the run's parts load
        from . import runner, wiring
        from .manual import run_by_hand
        from .views import progress

        raw = read()
        hub.identify()  # credentials filed under the wrong organisation are a settings error (exit 2)
        if dry_run:
            target = stack.enter_context(open(output, "wb")) if output else sys.stdout.buffer
            with progress() as show_progress:
                result = runner.dry_run(hub, feed_id, target, on_page=show_progress, raw=raw)
            target.flush()
        else:
            ledger = stack.enter_context(app.ledger())
            # Closed before the ledger: leaving the block waits for the alerts to go out (bounded).
            alerts = stack.enter_context(wiring.alerts(app.settings).start(ledger))
            with progress() as show_progress:
                result = run_by_hand(wiring.run_environment(app.settings), hub, ledger, feed_id, force=force,
                                     on_page=show_progress, guard=not no_guard, lease=wiring.lease(app.settings),
                                     raw=raw)
            alerts.after_run(ledger, result)
        if once.say(result.summary()):
            _err(result.summary())  # said before the alerts are waited for
    if result.status != "delivered" and not dry_run:
        sys.exit(1)


@cli.command()
@click.option("--id", "feed_id", type=int, help="Only this feed.")
@click.option("--limit", type=click.IntRange(1, 100000), default=20, show_default=True, help="Newest runs shown.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of runs.")
@pass_app
def history(app: App, feed_id: int | None, limit: int, as_json: bool) -> None:
    """Show the runs in the ledger, newest first."""
    from .views import history_table

    with app.ledger() as ledger:
        runs = [run.to_json() for run in ledger.runs.history(feed_id=feed_id, limit=limit)]
    if as_json:
        _print_json(runs)
    else:
        _out(app.ledger_line())
        history_table(runs, feed_id)


@cli.command()
@click.option("--id", "feed_id", type=int, help="Only this feed's destination (active or not).")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of tests.")
@pass_app
def check(app: App, feed_id: int | None, as_json: bool) -> None:
    """Test Hub credentials and delivery targets, sending no feed."""
    from . import wiring
    from .probes import check_all

    with app.hubs() as hubs, app.ledger() as ledger:
        checks = check_all(wiring.deliveries(app.settings), hubs, ledger, feed_id)
    if as_json:
        _print_json([c.to_json() for c in checks])
    else:
        for item in checks:
            _out(item.line())
        failed = sum(not c.ok for c in checks)
        _out(f"{len(checks) - failed} of {len(checks)} tests passed" if failed else f"all {len(checks)} tests passed")
    sys.exit(0 if all(c.ok for c in checks) else 1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array: one object per feed.")
@pass_app
def status(app: App, as_json: bool) -> None:
    """Every feed: its slot, when it is next due, its last run and what changed."""
    from datetime import datetime, timezone

    from .config import HubFeed
    from .status import feed_statuses
    from .views import status_table

    with app.hubs() as hubs, app.ledger() as ledger:
        hubs.identify()
        feeds = [HubFeed.read(raw) for raw in hubs.list_feeds()]
        statuses = feed_statuses(feeds, ledger, datetime.now(timezone.utc))
    if as_json:
        _print_json(statuses)
    else:
        _out(app.ledger_line())
        status_table(statuses)


@cli.command()
@click.argument("run_id", metavar="RUN_ID", type=int)
@pass_app
def release(app: App, run_id: int) -> None:
    """Deliver a held file exactly as it was held."""
    from . import wiring
    from .release import release as released

    with logs.said_once("feeds.run", app.log_format) as once, app.hubs() as hubs, app.ledger() as ledger, \
            wiring.alerts(app.settings).start(ledger) as alerts:
        result = released(wiring.run_environment(app.settings), hubs, ledger, run_id)
        alerts.after_run(ledger, result)
        if once.say(result.summary()):
            _err(result.summary())  # said before the alerts are waited for
    if result.status != "delivered":
        sys.exit(1)


@cli.command("forget-host-key")
@click.argument("host")
@click.option("--port", default=22, show_default=True, type=click.IntRange(1, 65535), help="The SFTP port.")
@pass_app
def forget_host_key(app: App, host: str, port: int) -> None:
    """Forget the remembered SFTP host key of HOST:PORT (after a key change you have checked)."""
    with app.ledger() as ledger:
        known = ledger.host_keys.get(host, port)
        if known is None:
            raise UsageError(f"no host key is remembered for {host}:{port}")
        ledger.host_keys.forget(host, port)
    _out(f"forgot the host key of {host}:{port} ({known.fingerprint}); the next delivery remembers the key it sees")


@cli.command()
@click.option("--web-port", "--metrics-port", "web_port", type=click.IntRange(0, 65535),
              help="Serve the status page, Prometheus metrics and /healthz on this port (--metrics-port is the "
                   "older name).")
@click.option("--web-host", "--metrics-host", "web_host", default="127.0.0.1", show_default=True,
              help="Address the status page listens on; beyond loopback only with web.token set.")
@pass_app
def daemon(app: App, web_port: int | None, web_host: str) -> None:
    """Deliver every active feed in its timeslot, every day."""
    from . import wiring

    if app.verbose == 0:
        # A daemon's journal should show every run and wake, not only problems.
        logging.getLogger("feeds").setLevel(logging.INFO)

    wiring.service(app.settings, web_port=web_port, web_host=web_host).run()


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port (0 picks a free one).")
@click.option("--products", default=250, show_default=True, type=click.IntRange(0, 10_000_000), help="Products in the generated catalogue.")
@click.option("--seed", default=1, show_default=True, type=int, help="Seed of the generated catalogue.")
@click.option("--latency", default=0.0, show_default=True, type=click.FloatRange(0), help="Milliseconds added to every answer.")
@click.option("--token-lifetime", default=3600.0, show_default=True, type=click.FloatRange(1), help="Seconds an access token works.")
@click.option("--fault-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1), help="Share of answers that are a random 429, 500, 502 or 503.")
def sandbox(host: str, port: int, products: int, seed: int, latency: float, token_lifetime: float, fault_rate: float) -> None:
    """Serve the Hub sandbox over HTTP: organisation 1 (client sandbox / sandbox-secret) and its
    reseller, organisation 2 (client reseller / reseller-secret), with its own prices."""
    from .hub.sandbox import (CLIENT_ID, CLIENT_SECRET, RESELLER_CLIENT_ID, RESELLER_CLIENT_SECRET, Catalogue,
                              Sandbox, make_server)

    app = Sandbox.from_samples(
        catalogue=Catalogue(count=products, seed=seed),
        latency=latency / 1000.0,
        token_lifetime=token_lifetime,
        fault_rate=fault_rate,
    )
    server = make_server(app, host, port)
    bound_host, bound_port = server.server_address[:2]
    _err(
        f"Hub sandbox on http://{bound_host}:{bound_port}/api/v1 with {products} products: organisation 1 "
        f"(client_id {CLIENT_ID}, client_secret {CLIENT_SECRET}) and organisation 2 (client_id "
        f"{RESELLER_CLIENT_ID}, client_secret {RESELLER_CLIENT_SECRET}); Ctrl-C stops it"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    """The console script."""
    collector.for_catalogues()
    try:
        cli.main(args=argv, prog_name="feeds")
    except BrokenPipeError:  # `feeds list | head`
        sys.exit(1)
    finally:
        collector.at_exit()
