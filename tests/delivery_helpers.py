"""Helpers for delivery tests: settings, a sandbox with chosen feeds, one run, bytes to compare."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from feeds import wiring
from feeds.catalog import load_catalogue
from feeds.config import FeedConfig
from feeds.hub import open_hub
from feeds.hub.sandbox import Sandbox
from feeds.ledger import Ledger
from feeds.render import render_feed
from feeds.runner import run_feed
from feeds.wiring import Settings

BASE_FEED = {"organisation": 1, "name": "Test feed", "active": True, "timeslot": 150,
             "columns": ["name", "stock", "price", "vendor"]}


def make_settings(tmp_path: Path, **sections: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        "hub": {"base_url": "sandbox", "client_id": "sandbox", "client_secret": "sandbox-secret"},
        "delivery": {"retry_wait": 0.0, "timeout": 5.0, "allow_networks": ["127.0.0.0/8", "::1/128"]},
        "state": {"database": str(tmp_path / "state" / "feeds.db")},
        "schedule": {"processes": 1},  # the work in the test's own process, unless a test asks for more
    }
    for name, overrides in sections.items():
        values[name] = {**values.get(name, {}), **overrides}
    return Settings.model_validate(values)


def ftp_feed(server: Any, protocol: str = "FTP", **extra: Any) -> dict[str, Any]:
    return {**BASE_FEED, "delivery_method": "FTP", "delivery_procotol": protocol, "delivery_server": "127.0.0.1",
            "delivery_port": server.port, "delivery_user": server.user, "delivery_password": server.password, **extra}


def email_feed(**extra: Any) -> dict[str, Any]:
    return {**BASE_FEED, "delivery_method": "EMAIL", "delivery_email": "reseller@example.com", **extra}


def sitc_feed(**extra: Any) -> dict[str, Any]:
    return {**BASE_FEED, "delivery_method": "SITC", "sitc_confirm": True, "sitc_filename": "Stock-SITC.csv", **extra}


def sandbox_with(*feeds: dict[str, Any], **options: Any) -> Sandbox:
    return Sandbox(feeds={i + 1: {"id": i + 1, **feed} for i, feed in enumerate(feeds)}, **options)


def run(settings: Settings, sandbox: Sandbox, feed_id: int = 1, **options: Any):
    """One run of feed ``feed_id``: its result, its ledger row (as ``history --json`` shows it) and attempts."""
    with open_hub(settings.hub, sandbox=sandbox) as hub, Ledger(settings.state.database_url) as ledger:
        result = run_feed(wiring.run_environment(settings), hub, ledger, feed_id, **options)
        attempts = [vars(attempt) for attempt in ledger.runs.attempts_of(result.run_id)]
        return result, ledger.runs.get(result.run_id).to_json(), attempts


def expected_bytes(settings: Settings, sandbox: Sandbox, feed_id: int = 1) -> bytes:
    """The file as a dry run renders it from the same sandbox."""
    with open_hub(settings.hub, sandbox=sandbox) as hub:
        feed = FeedConfig.model_validate(hub.get_feed(feed_id))
        out = io.BytesIO()
        render_feed(load_catalogue(hub), feed, out)
        return out.getvalue()
