"""`feeds run --id N --dry-run`: Hub's configuration and catalogue to the exact file, nothing sent."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from click.testing import CliRunner

from feeds.cli import cli

from conftest import BIN, SAMPLES, SANDBOX_TOML, write_settings

GOLDEN = SAMPLES.parent / "tests" / "golden"
#: the README's sandbox settings, copied into each test's folder
pytestmark = pytest.mark.usefixtures("sandbox_copy")


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("feed_id", [1, 2, 3])
def test_sandbox_feeds_render_to_the_golden_bytes(tmp_path, feed_id):
    out = tmp_path / "out.csv"
    result = invoke("--config", SANDBOX_TOML, "run", "--id", str(feed_id), "--dry-run", "--output", str(out))
    assert result.exit_code == 0, result.output
    golden = GOLDEN / f"sandbox-feed-{feed_id}.csv"
    if os.environ.get("REGEN_GOLDEN") == "1":
        golden.write_bytes(out.read_bytes())
    assert out.read_bytes() == golden.read_bytes()
    summary = result.output.strip().splitlines()[-1]
    assert re.fullmatch(rf"feed {feed_id} \(.+\): rendered \d+ rows, \d+ bytes in [\d.]+ s; 5 without product_code left out.*", summary)
    assert not (tmp_path / "outbox").exists()


def test_sandbox_feed_3_header_and_format():
    data = (GOLDEN / "sandbox-feed-3.csv").read_bytes()
    assert data.startswith(b"sku,name,stock,price,vendor,rrp\r\n")
    assert data.endswith(b"\r\n")
    assert (GOLDEN / "sandbox-feed-1.csv").read_bytes().startswith(b"sku,name,ean,mpn,stock,price\r\n")


def test_dry_run_to_stdout_through_the_installed_command(tmp_path):
    done = subprocess.run([str(BIN / "feeds"), "--config", SANDBOX_TOML, "run", "--id", "3", "--dry-run"],
                          capture_output=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (GOLDEN / "sandbox-feed-3.csv").read_bytes()
    assert b"feed 3 (SITC feed): rendered 245 rows" in done.stderr
    assert not (tmp_path / "outbox").exists() and not (tmp_path / "state").exists()


def test_an_invalid_configuration_fails_with_the_validators_message(hub_server, sandbox, tmp_path):
    sandbox.feeds[4] = {**sandbox.feeds[1], "id": 4, "timeslot": 45, "delivery_email": "a@example.com\nBcc: x@example.net"}
    conf = write_settings(tmp_path / "f.toml", f'[hub]\nbase_url = "{hub_server.base_url}"\nclient_id = "sandbox"\nclient_secret = "sandbox-secret"\n')
    result = invoke("--config", str(conf), "run", "--id", "4", "--dry-run", "--output", str(tmp_path / "x.csv"))
    assert result.exit_code == 1
    assert "error: feed 4 is invalid: timeslot: 45 is not a multiple of 30 (try 30 or 60); delivery_email: contains a line break" in result.output
    assert sandbox.recorded.counts["GET /products"] == 0
    assert not (tmp_path / "x.csv").exists() or (tmp_path / "x.csv").read_bytes() == b""


def test_an_unsafe_filename_pattern_is_refused_before_the_catalogue_is_read(hub_server, sandbox, tmp_path):
    sandbox.feeds[4] = {**sandbox.feeds[1], "id": 4, "filename": "../%Y.csv"}
    conf = write_settings(tmp_path / "f.toml", f'[hub]\nbase_url = "{hub_server.base_url}"\nclient_id = "sandbox"\nclient_secret = "sandbox-secret"\n')
    result = invoke("--config", str(conf), "run", "--id", "4", "--dry-run")
    assert result.exit_code == 1 and "filename: gives the file name" in result.output
    assert sandbox.recorded.counts["GET /products"] == 0


def test_output_needs_dry_run():
    result = invoke("--config", SANDBOX_TOML, "run", "--id", "3", "--output", "x.csv")
    assert result.exit_code == 2 and "--output goes with --dry-run" in result.output


def oracle(feed: dict, products: list[dict], vendors: dict[int, str]) -> bytes:
    """An independent, naive reading of SPEC §3 for COMMA / QUOTED / header feeds."""
    import csv
    import io
    from decimal import ROUND_HALF_UP, Decimal

    def money(v):
        if v is None:
            return ""
        d = Decimal(str(v)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        return "0.00" if d == 0 else f"{d:f}"

    def stock(p):
        s = p.get("stock")
        if s is not None and s > 0:
            return str(s)
        physical = p.get("is_shippable") is True or (p.get("is_shippable") is None and not p.get("subscription_type"))
        return "0" if physical and feed.get("show_empty_stock") else ""

    latest = {}
    for p in products:
        latest[p["id"]] = p
    kept = sorted((p for p in latest.values() if p.get("product_code")), key=lambda p: (p["product_code"], p["id"]))
    values = {
        "name": lambda p: p.get("name") or "",
        "ean": lambda p: p.get("ean") or "",
        "mpn": lambda p: p.get("mpn") or p["product_code"],
        "stock": stock,
        "price": lambda p: money(p.get("price")),
        "rrp": lambda p: money(p.get("rrp")),
        "vendor": lambda p: vendors.get(p.get("vendor"), ""),
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["sku", *feed["columns"]])
    for p in kept:
        writer.writerow([p["product_code"]] + [values[c](p) for c in feed["columns"]])
    return out.getvalue().encode("utf-8")


@pytest.mark.parametrize("feed_id", [1, 2, 3])
def test_golden_files_agree_with_an_independent_oracle(feed_id):
    import json
    from decimal import Decimal

    from feeds.hub.sandbox import load_sample_feeds
    from feeds.hub.sandbox.data import VENDORS, products

    items = json.loads(json.dumps(products(1, 0, 250)), parse_float=Decimal)
    expected = oracle(load_sample_feeds()[feed_id], items, {v["id"]: v["name"] for v in VENDORS})
    assert (GOLDEN / f"sandbox-feed-{feed_id}.csv").read_bytes() == expected
