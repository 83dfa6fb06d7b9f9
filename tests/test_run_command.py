"""`feeds run --id N` end to end, `feeds history`, and the README's main command."""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner

from feeds.cli import cli

from feeds.hub.sandbox import Catalogue, RunningSandbox, Sandbox

from conftest import BIN, SAMPLES, SANDBOX_TOML, write_settings
from servers import FtpServer

GOLDEN = SAMPLES.parent / "tests" / "golden"
#: the README's sandbox settings, copied into each test's folder
pytestmark = pytest.mark.usefixtures("sandbox_copy")


def http_settings(tmp_path, hub_server, extra: str = ""):
    """Settings for the sandbox served over HTTP, with the ledger in ``tmp_path``."""
    return write_settings(tmp_path / "f.toml", f"""
[hub]
base_url = "{hub_server.base_url}"
client_id = "sandbox"
client_secret = "sandbox-secret"
{extra}[state]
database = "{tmp_path}/db.sqlite"
""")


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_readme_main_command_delivers_feed_3_to_the_outbox(tmp_path):
    feeds = str(BIN / "feeds")
    done = subprocess.run([feeds, "--config", SANDBOX_TOML, "run", "--id", "3"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("feed 3 (SITC feed): delivered 245 rows, 15684 bytes to outbox ")
    assert "would go to SITC sftp://sandbox@sftp.stockinthechannel.example:22/incoming/Example-SITC.csv" in done.stderr
    delivered = tmp_path / "outbox" / "3" / "Example-SITC.csv"
    assert delivered.read_bytes() == (GOLDEN / "sandbox-feed-3.csv").read_bytes()
    manifest = json.loads((tmp_path / "outbox" / "3" / "Example-SITC.csv.manifest.json").read_text())
    assert manifest["sha256"] and manifest["rows"] == 245 and manifest["method"] == "SITC"
    history = subprocess.run([feeds, "--config", SANDBOX_TOML, "history", "--json"], capture_output=True, text=True,
                             cwd=tmp_path, timeout=60)
    (run,) = json.loads(history.stdout)
    assert run["status"] == "delivered" and run["trigger"] == "manual" and run["feed_id"] == 3
    assert run["bytes"] == 15684 and run["filename"] == "Example-SITC.csv"
    archived = list((tmp_path / "state" / "archive" / "3").iterdir())
    assert len(archived) == 1 and archived[0].read_bytes() == delivered.read_bytes()


def test_history_fields_and_filters(tmp_path):
    invoke("--config", SANDBOX_TOML, "run", "--id", "1")
    invoke("--config", SANDBOX_TOML, "run", "--id", "3")
    runs = json.loads(invoke("--config", SANDBOX_TOML, "history", "--json").output)
    assert [r["feed_id"] for r in runs] == [3, 1]
    expected = {"run_id", "feed_id", "organisation", "feed_name", "slot_start", "trigger", "started_at", "ended_at",
                "status", "method", "rows", "bytes", "sha256", "filename", "destination", "attempts", "error",
                "archive_path", "host", "worker", "changes", "released_by"}
    assert set(runs[0]) == expected
    assert runs[0]["released_by"] is None  # only a held run that was released names its releaser
    assert runs[0]["changes"] == {"previous_rows": None, "rows": runs[0]["rows"], "added": runs[0]["rows"],
                                  "removed": 0, "price_up": 0, "price_down": 0, "out_of_stock": 0,
                                  "back_in_stock": 0}
    assert json.loads(invoke("--config", SANDBOX_TOML, "history", "--json", "--id", "1").output)[0]["feed_id"] == 1
    assert len(json.loads(invoke("--config", SANDBOX_TOML, "history", "--json", "--limit", "1").output)) == 1
    table = invoke("--config", SANDBOX_TOML, "history").output
    assert "delivered" in table and "manual" in table


def test_inactive_feed_needs_force(tmp_path):
    refused = invoke("--config", SANDBOX_TOML, "run", "--id", "2")
    assert refused.exit_code == 2 and "feed 2 (FTP feed) is inactive; use --force" in refused.output
    assert json.loads(invoke("--config", SANDBOX_TOML, "history", "--json").output) == []
    forced = invoke("--config", SANDBOX_TOML, "run", "--id", "2", "--force")
    assert forced.exit_code == 0 and "delivered" in forced.output


def test_a_failed_delivery_exits_1_and_is_recorded(tmp_path, hub_server, sandbox):
    sandbox.feeds[1] = {**sandbox.feeds[2], "id": 1, "active": True, "delivery_procotol": "FTP",
                        "delivery_server": "127.0.0.1", "delivery_port": 9}
    conf = http_settings(tmp_path, hub_server, "[delivery]\nretry_wait = 0\n")
    result = invoke("--config", str(conf), "run", "--id", "1")
    assert result.exit_code == 1
    assert "feed 1 (FTP feed): failed after" in result.output and "connection refused" in result.output
    (run,) = json.loads(invoke("--config", str(conf), "history", "--json").output)
    assert run["status"] == "failed" and run["attempts"] == 3 and "connection refused" in run["error"]


def test_run_to_a_real_ftp_server_through_the_command(tmp_path, hub_server, sandbox):
    root = tmp_path / "ftp"
    root.mkdir()
    with FtpServer(root) as server:
        sandbox.feeds[5] = {"id": 5, "organisation": 1, "name": "Via CLI", "timeslot": 0, "columns": ["price"],
                            "delivery_method": "FTP", "delivery_procotol": "FTP", "delivery_server": "127.0.0.1",
                            "delivery_port": server.port, "delivery_user": server.user,
                            "delivery_password": server.password, "filename": "prices.csv"}
        conf = http_settings(tmp_path, hub_server)
        result = invoke("--config", str(conf), "run", "--id", "5")
        assert result.exit_code == 0, result.output
        assert f"to ftp://feeder@127.0.0.1:{server.port}/prices.csv" in result.output
        assert server.files()["prices.csv"].startswith(b"sku,price\r\n")


def test_forget_host_key(tmp_path):
    from feeds.ledger import Ledger
    from feeds.wiring import load_settings as load

    settings = load(SANDBOX_TOML, {})
    with Ledger(settings.state.database_url) as ledger:
        ledger.host_keys.remember("sftp.example.com", 2222, "ssh-ed25519", "AAAA", "SHA256:abc")
    missing = invoke("--config", SANDBOX_TOML, "forget-host-key", "sftp.example.com")
    assert missing.exit_code == 2 and "no host key is remembered for sftp.example.com:22" in missing.output
    done = invoke("--config", SANDBOX_TOML, "forget-host-key", "sftp.example.com", "--port", "2222")
    assert done.exit_code == 0 and "SHA256:abc" in done.output
    with Ledger(settings.state.database_url) as ledger:
        assert ledger.host_keys.get("sftp.example.com", 2222) is None


def test_a_failed_or_held_run_says_its_summary_once(tmp_path):
    """The summary line is the run's one message on stderr: the runner's log line saying the same is not
    printed beside it."""
    sandbox = Sandbox.from_samples()
    with RunningSandbox(sandbox) as hub:
        conf = str(http_settings(tmp_path, hub, f'[delivery]\noutbox = "{tmp_path}/outbox"\n'))

        def run(feed_id: int, *options: str) -> subprocess.CompletedProcess:
            return subprocess.run([str(BIN / "feeds"), *options, "--config", conf, "run", "--id", str(feed_id)],
                                  capture_output=True, text=True, cwd=tmp_path, timeout=60)

        failed = run(4)  # organisation 2 has no credentials in these settings
        assert failed.returncode == 1
        (line,) = failed.stderr.splitlines()
        assert line.startswith("feed 4 (Reseller stock by email): failed after ") and "[organisations.2]" in line
        (record,) = [json.loads(line) for line in run(4, "--log-format", "json").stderr.splitlines()]
        assert record["level"] == "error" and record["message"].startswith("feed 4 (Reseller stock by email): failed")
        assert run(1).returncode == 0
        sandbox.catalogue = Catalogue(count=20)  # most products gone: the guard holds the file
        held = run(1)
        assert held.returncode == 1
        (line,) = held.stderr.splitlines()
        assert line.startswith("feed 1 (Email feed): held ") and "feeds release" in line
