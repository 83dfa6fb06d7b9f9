"""``feeds release RUN_ID`` (SPEC §12): a held file is released once, and only while releasing it is right.

A hostile review released one held file twice in a row, twice at the same
time, over a newer good delivery, for an inactive feed, and after Hub moved
the feed to another organisation; each was delivered. Here each is refused
with one sentence, exit status 1, and nothing is sent.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from feeds.hub.sandbox import Catalogue, RunningSandbox, Sandbox

from conftest import BIN, write_settings
from servers import FtpServer
from test_cli import invoke

FEEDS = str(BIN / "feeds")


def product(i: int) -> dict:
    return {"id": i, "product_code": f"SKU-{i:04d}", "name": f"Product {i}", "price": 10.0, "stock": 5}


class Held:
    """One FTP feed on a sandbox over HTTP: delivered once with 100 products, then held with 40."""

    def __init__(self, tmp_path: Path, server: FtpServer, running: RunningSandbox, sandbox: Sandbox):
        self.server, self.sandbox = server, sandbox
        sandbox.feeds[1] = {"id": 1, "organisation": 1, "name": "Stock", "timeslot": 0, "columns": ["name", "price"],
                            "delivery_method": "FTP", "delivery_procotol": "FTP", "delivery_server": "127.0.0.1",
                            "delivery_port": server.port, "delivery_user": server.user,
                            "delivery_password": server.password, "filename": "stock.csv"}
        self.conf = str(write_settings(tmp_path / "feeds.toml", f"""
[hub]
base_url = "{running.base_url}"
client_id = "sandbox"
client_secret = "sandbox-secret"
[delivery]
allow_networks = ["127.0.0.0/8"]
retry_wait = 0
[state]
database = "{tmp_path / 'state' / 'feeds.db'}"
"""))
        sandbox.catalogue = Catalogue(items=[product(i) for i in range(1, 101)])
        assert invoke("--config", self.conf, "run", "--id", "1").exit_code == 0
        sandbox.catalogue = Catalogue(items=[product(i) for i in range(1, 41)])  # lost 60 %: held
        held = invoke("--config", self.conf, "run", "--id", "1")
        assert held.exit_code == 1 and "held" in held.output
        self.run_id = self.history()[0]["run_id"]
        assert self.history()[0]["status"] == "held"

    def history(self) -> list[dict]:
        return json.loads(invoke("--config", self.conf, "history", "--json").output)

    def renames(self) -> int:
        return sum(1 for name in self.server.names if name == "stock.csv")


@pytest.fixture
def held(tmp_path):
    root = tmp_path / "ftp"
    root.mkdir()
    sandbox = Sandbox(feeds={})
    with FtpServer(root) as server, RunningSandbox(sandbox) as running:
        yield Held(tmp_path, server, running, sandbox)


def test_a_held_run_is_released_once_and_says_by_which_run(held):
    first = invoke("--config", held.conf, "release", str(held.run_id))
    assert first.exit_code == 0, first.output
    runs = {run["run_id"]: run for run in held.history()}
    release = max(runs)
    assert runs[held.run_id]["released_by"] == release and runs[release]["status"] == "delivered"
    assert "release it with" not in runs[held.run_id]["error"]
    assert runs[held.run_id]["error"].endswith(f"released by run {release}")
    again = invoke("--config", held.conf, "release", str(held.run_id))
    assert again.exit_code == 1
    assert f"error: run {held.run_id} was released already, by run {release}" in again.output
    assert held.renames() == 2  # the first delivery and the one release


def test_two_releases_at_the_same_time_deliver_once(held):
    commands = [subprocess.Popen([FEEDS, "--config", held.conf, "release", str(held.run_id)], stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
    outcomes = sorted((c.wait(timeout=60), c.stderr.read()) for c in commands)
    assert [code for code, _ in outcomes] == [0, 1], outcomes
    loser = outcomes[1][1]  # whichever check it reached when the other had won: one sentence, nothing sent
    assert any(said in loser for said in ("released already", "being released", "delivered after the held run"))
    assert held.renames() == 2
    assert sum(1 for run in held.history() if run["trigger"] == "manual" and run["status"] == "delivered") == 2


def test_a_held_file_is_not_sent_over_a_newer_delivery(held):
    held.sandbox.catalogue = Catalogue(items=[product(i) for i in range(1, 101)])  # Hub recovered
    assert invoke("--config", held.conf, "run", "--id", "1").exit_code == 0
    refused = invoke("--config", held.conf, "release", str(held.run_id))
    assert refused.exit_code == 1 and "was delivered after the held run" in refused.output
    assert held.renames() == 2  # the two good deliveries only
    assert held.server.files()["stock.csv"].count(b"\r\n") == 101


@pytest.mark.parametrize("change, said", [
    ({"active": False}, "is inactive now"),
    ({"organisation": 2}, "belongs to organisation 2 now"),
])
def test_a_release_applies_a_runs_checks(held, change, said):
    held.sandbox.feeds[1].update(change)
    refused = invoke("--config", held.conf, "release", str(held.run_id))
    assert refused.exit_code == 1 and said in refused.output, refused.output
    assert held.renames() == 1 and held.history()[0]["released_by"] is None  # nothing sent, nothing recorded


def test_a_failed_release_may_be_tried_again(held):
    held.server.faults.disk_full = 10  # every upload fails: the release fails, and may be tried again later
    failed = invoke("--config", held.conf, "release", str(held.run_id))
    assert failed.exit_code == 1
    assert next(r for r in held.history() if r["run_id"] == held.run_id)["released_by"] is None
    held.server.faults.disk_full = 0
    assert invoke("--config", held.conf, "release", str(held.run_id)).exit_code == 0
    assert held.renames() == 2
