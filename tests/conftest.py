"""Shared fixtures: the Hub sandbox (in process and over HTTP), settings, clients."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from feeds import redact, retry
from feeds.catalog import load_catalogue
from feeds.config import FeedConfig
from feeds.hub.client import HubClient
from feeds.hub.sandbox import CLIENT_ID, CLIENT_SECRET, Catalogue, RunningSandbox, Sandbox
from feeds.hub.settings import HubSettings

#: Hub's retry policy with short pauses, so that tests of retries do not wait
FAST_HUB = retry.HUB.but(first_wait=0.01, max_wait=0.6, jitter=0.01)

REPO = Path(__file__).resolve().parent.parent
#: the networks of the tests' own servers, exempt from the egress rule in tests
LOOPBACK = "127.0.0.0/8,::1/128"
SAMPLES = REPO / "sample_configs"
BIN = Path(sys.executable).parent
#: the sandbox settings as the README's commands name them, from the test's folder (see ``sandbox_copy``)
SANDBOX_TOML = "sample_configs/sandbox.toml"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch, tmp_path):
    """No FEEDS_* variable, ./feeds.toml or secret registered by another test leaks into a test."""
    for name in list(os.environ):
        if name.startswith("FEEDS_"):
            monkeypatch.delenv(name)
    # The tests' servers listen on loopback, which the egress rule denies to organisations' feeds
    # (SPEC §11); tests of the rule itself take this exemption away again.
    monkeypatch.setenv("FEEDS_DELIVERY_ALLOW_NETWORKS", LOOPBACK)
    monkeypatch.chdir(tmp_path)
    redact.forget_all()


@pytest.fixture
def sandbox_copy(tmp_path) -> Path:
    """``sample_configs/sandbox.toml`` copied into the test's folder (its working directory): the file's
    relative paths (``../outbox``, ``../state``) land in the test's folder as the README's land in the
    repository's, and no test sees another's ledger."""
    folder = tmp_path / "sample_configs"
    folder.mkdir(exist_ok=True)
    return Path(shutil.copy(SAMPLES / "sandbox.toml", folder / "sandbox.toml"))


ALL_COLUMNS = ["name", "stock", "price", "rrp", "vendor", "mpn", "ean"]


def fixture_data():
    return json.loads((REPO / "tests" / "data" / "awkward_catalogue.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def awkward():
    """The awkward catalogue, read through the real client from the sandbox, 8 per page."""
    data = fixture_data()
    items = [p for page in data["pages"] for p in page]
    sandbox = Sandbox(catalogue=Catalogue(items=items), vendors=data["vendors"])
    with RunningSandbox(sandbox) as running, HubClient(hub_settings(running.base_url, per_page=8)) as hub:
        return load_catalogue(hub)


def feed(**overrides) -> FeedConfig:
    """A valid EMAIL feed with every column, changed by ``overrides``."""
    values = dict(organisation=1, name="Golden", timeslot=0, columns=ALL_COLUMNS,
                  delivery_method="EMAIL", delivery_email="golden@example.com")
    values.update(overrides)
    return FeedConfig.model_validate(values)


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox.from_samples()


@pytest.fixture
def hub_server(sandbox):
    with RunningSandbox(sandbox) as running:
        yield running


def hub_settings(base_url: str, **overrides) -> HubSettings:
    values = dict(base_url=base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, timeout=5.0)
    values.update(overrides)
    return HubSettings(**values)


class Sleeps(list):
    """A sleep that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(hub_server, sleeps):
    with HubClient(hub_settings(hub_server.base_url), policy=FAST_HUB, sleep=sleeps) as hub:
        yield hub


def two_organisations(base_url: str) -> str:
    """The [hub] and [organisations.2] tables of the sandbox's two organisations, as settings text."""
    return f"""
[hub]
base_url = "{base_url}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
[organisations.2]
client_id = "reseller"
client_secret = "reseller-secret"
"""


def write_settings(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server for the whole test session (SPEC §6: a shared ledger)."""
    from postgres import PostgresServer, binaries

    if binaries() is None:  # a fleet is a feature: its tests fail rather than skip without a server
        pytest.fail("no PostgreSQL server binaries (initdb, pg_ctl) on this machine: install Debian's postgresql "
                    "(the README's test command does)")
    try:
        server = PostgresServer().start()
    except KeyError:
        pytest.fail("running as root and there is no 'postgres' user to run PostgreSQL as: install Debian's "
                    "postgresql, which creates it")
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _no_daemon_outlives_its_test():
    """A failed assertion must not leave a `feeds daemon` process running."""
    yield
    from processes import STARTED

    while STARTED:
        daemon = STARTED.pop()
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(timeout=10)
