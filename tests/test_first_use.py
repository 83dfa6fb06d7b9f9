"""What a new user meets first: one ledger wherever a command runs, no settings file, empty credentials,
secrets from the service's environment file, and a sandbox that keeps uploads and gives the daemon work."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from feeds.cli import cli
from feeds.hub.sandbox import FeedStore, Sandbox

from conftest import SANDBOX_TOML, write_settings
from processes import DaemonProcess, current_slot, wait_for
from servers import free_port


def invoke(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def error_line(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    return line


@pytest.fixture
def no_network(monkeypatch):
    """Every name lookup and connection the command tries, refused and recorded (loopback included)."""
    tried: list[str] = []

    def refuse(*args, **kwargs):
        tried.append(repr(args[:2]))
        raise OSError("the test forbids the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", lambda self, *a: refuse(*a))
    return tried


# --- 1. one ledger, wherever the command runs --------------------------------------------------------------


def test_the_sandbox_ledger_is_the_same_from_any_folder(tmp_path, sandbox_copy, monkeypatch):
    """Relative paths of a settings file are taken from its folder: run from the top, read from elsewhere."""
    assert invoke("--config", SANDBOX_TOML, "run", "--id", "3").exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    shown = invoke("--config", str(sandbox_copy), "history")
    assert shown.exit_code == 0
    first = shown.output.splitlines()[0]
    assert first == f"ledger {tmp_path}/state/feeds.db (state.database in {sandbox_copy})"
    assert "no runs recorded yet" not in shown.output and "delivered" in shown.output
    assert list(elsewhere.iterdir()) == []  # no ./state, no ./outbox created here
    (run,) = json.loads(invoke("--config", str(sandbox_copy), "history", "--json").output)
    assert run["feed_id"] == 3 and run["archive_path"].startswith(f"{tmp_path}/state/archive/3/")
    assert (tmp_path / "outbox" / "3" / "Example-SITC.csv").is_file()


def test_history_and_status_say_which_ledger_and_why(tmp_path, sandbox_copy, monkeypatch):
    monkeypatch.setenv("FEEDS_STATE_DATABASE", "mine/feeds.db")  # the environment's paths: from here
    shown = invoke("--config", SANDBOX_TOML, "history")
    assert shown.output.splitlines()[0] == f"ledger {tmp_path}/mine/feeds.db (FEEDS_STATE_DATABASE)"
    status = invoke("--config", SANDBOX_TOML, "status")
    assert status.exit_code == 0
    assert status.output.splitlines()[0] == f"ledger {tmp_path}/mine/feeds.db (FEEDS_STATE_DATABASE)"
    assert json.loads(invoke("--config", SANDBOX_TOML, "status", "--json").output)[0]["id"] == 1  # JSON stays JSON
    monkeypatch.delenv("FEEDS_STATE_DATABASE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    conf = write_settings(tmp_path / "bare.toml", '[hub]\nbase_url = "sandbox"\nclient_id = "sandbox"\n'
                                                  'client_secret = "sandbox-secret"\n')
    shown = invoke("--config", str(conf), "history")
    assert shown.output.splitlines()[0] == (f"ledger {tmp_path}/home/.local/state/feeds/feeds.db "
                                            "(the built-in default of state.database)")


# --- 2. no settings file -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["list"], ["show", "1"], ["run", "--id", "1"], ["run", "--id", "1", "--dry-run"], ["history"], ["status"],
    ["check"], ["release", "1"], ["daemon"], ["validate", "--remote"], ["forget-host-key", "sftp.example.com"],
])
def test_no_settings_file_is_exit_2_naming_where_it_looked_with_no_network(tmp_path, no_network, command):
    result = invoke(*command)
    assert result.exit_code == 2
    assert error_line(result.output) == (
        f"error: no settings file: --config is not given, FEEDS_CONFIG is not set and there is no feeds.toml in "
        f"{tmp_path}; give the settings file with --config FILE (the example settings file feeds.example.toml "
        "shows every key)")
    assert no_network == []
    assert list(tmp_path.iterdir()) == []  # no ledger created either


def test_commands_that_need_no_settings_still_work_without_a_file(tmp_path, no_network):
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps({"organisation": 1, "name": "x", "timeslot": 0, "columns": ["name"],
                                "delivery_method": "EMAIL", "delivery_email": "a@example.com"}))
    assert invoke("validate", str(feed)).exit_code == 0
    assert invoke("upload", str(feed), "--dry-run").exit_code == 0
    assert json.loads(invoke("schema").output)["type"] == "object"
    assert no_network == []


# --- 3. empty credentials ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tables, expected", [
    ('[hub]\nclient_secret = "s"\n',
     "error: hub.client_id is empty: set it to the API client's id from Hub in [hub] of the settings file or in "
     "FEEDS_HUB_CLIENT_ID"),
    ('[hub]\nclient_id = "sandbox"\n',
     "error: hub.client_secret is empty: set FEEDS_HUB_CLIENT_SECRET (for a command, feeds --env-file FILE reads "
     "it from the service's environment file)"),
    ('[hub]\nclient_id = "sandbox"\nclient_secret = "sandbox-secret"\n[organisations.7]\nclient_id = "r"\n',
     "error: organisations.7.client_secret is empty: set FEEDS_ORGANISATIONS_7_CLIENT_SECRET (for a command, "
     "feeds --env-file FILE reads it from the service's environment file)"),
    ('[organisations.7]\nclient_secret = "x"\n',
     "error: organisations.7.client_id is empty: set it to the API client's id from Hub in [organisations.7] of "
     "the settings file or in FEEDS_ORGANISATIONS_7_CLIENT_ID"),
])
@pytest.mark.parametrize("command", [["list"], ["validate", "--remote"], ["run", "--id", "1"], ["check"]])
def test_empty_credentials_are_exit_2_before_any_request(tmp_path, hub_server, sandbox, tables, expected, command):
    conf = write_settings(tmp_path / "f.toml", f'{tables}[state]\ndatabase = "state.db"\n')
    conf.write_text(conf.read_text().replace("[hub]\n", f'[hub]\nbase_url = "{hub_server.base_url}"\n')
                    if "[hub]" in tables else f'[hub]\nbase_url = "{hub_server.base_url}"\n' + conf.read_text())
    result = invoke("--config", str(conf), *command)
    assert result.exit_code == 2
    assert error_line(result.output) == expected
    assert sandbox.recorded.requests == []


def test_hub_without_client_id_is_fine_beside_organisation_tables(tmp_path, hub_server):
    conf = write_settings(tmp_path / "f.toml", f'[hub]\nbase_url = "{hub_server.base_url}"\n'
                                               '[organisations.2]\nclient_id = "reseller"\n'
                                               'client_secret = "reseller-secret"\n[state]\ndatabase = "s.db"\n')
    result = invoke("--config", str(conf), "list", "--json")
    assert result.exit_code == 0 and [f["id"] for f in json.loads(result.output)] == [4]


def test_the_env_file_gives_a_command_the_service_secrets(tmp_path, hub_server, sandbox, monkeypatch):
    conf = write_settings(tmp_path / "feeds.toml", f'[hub]\nbase_url = "{hub_server.base_url}"\nclient_id = "sandbox"\n'
                                                   '[state]\ndatabase = "state.db"\n')
    secrets = tmp_path / "secrets.env"
    secrets.write_text('# the service\'s secrets\n\nFEEDS_HUB_CLIENT_SECRET="sandbox-secret"\n'
                       "FEEDS_WEB_TOKEN='a token with spaces'\n")
    monkeypatch.setenv("FEEDS_HUB_CLIENT_SECRET", "stale-secret")  # the file wins over the environment
    result = invoke("--config", str(conf), "--env-file", str(secrets), "validate", "--remote", "--id", "1")
    assert result.exit_code == 0, result.output  # the secret came from the file: Hub answered
    assert "sandbox-secret" not in result.output
    monkeypatch.delenv("FEEDS_HUB_CLIENT_SECRET")
    without = invoke("--config", str(conf), "list")
    assert without.exit_code == 2 and "FEEDS_HUB_CLIENT_SECRET" in error_line(without.output)


@pytest.mark.parametrize("text, expected", [
    ("FEEDS_HUB_CLIENT_SECRET=s3cret-value\nexport FEEDS_SMTP_PASSWORD=s3cret-value\n",
     "error: line 2 of environment file {path} is not NAME=value; write one FEEDS_<SECTION>_<KEY>=value per line "
     "(blank lines and # comments are allowed)"),
    ("s3cret-value\n", "error: line 1 of environment file {path} is not NAME=value; write one "
                       "FEEDS_<SECTION>_<KEY>=value per line (blank lines and # comments are allowed)"),
    ("PGPASSWORD=s3cret-value\n", "error: line 1 of environment file {path} sets PGPASSWORD, which is not a "
                                  "FEEDS_* variable; the file holds feeds settings only, such as "
                                  "FEEDS_HUB_CLIENT_SECRET"),
])
def test_a_bad_env_file_line_is_one_sentence_without_its_value(tmp_path, text, expected):
    path = tmp_path / "secrets.env"
    path.write_text(text)
    result = invoke("--env-file", str(path), "schema")
    assert result.exit_code == 2
    assert error_line(result.output) == expected.format(path=path)
    assert "s3cret-value" not in result.output


def test_a_missing_env_file_is_exit_2(tmp_path):
    result = invoke("--env-file", str(tmp_path / "nope.env"), "list")
    assert result.exit_code == 2
    assert error_line(result.output) == (f"error: environment file {tmp_path / 'nope.env'} does not exist; give "
                                         "an existing file to --env-file")


# --- 5. the built-in sandbox keeps uploads and gives the daemon work --------------------------------------


def test_uploads_to_the_built_in_sandbox_show_in_the_next_command(tmp_path, sandbox_copy):
    path = tmp_path / "feed.json"
    changed = {**json.loads(invoke("--config", SANDBOX_TOML, "show", "1", "--json").output), "name": "Renamed"}
    changed.pop("last_upload")
    path.write_text(json.dumps(changed))
    assert "updated feed 1" in invoke("--config", SANDBOX_TOML, "upload", str(path)).output
    new = {key: value for key, value in changed.items() if key != "id"}
    path.write_text(json.dumps({**new, "name": "Brand new"}))
    assert "created feed 5" in invoke("--config", SANDBOX_TOML, "upload", str(path)).output
    listed = json.loads(invoke("--config", SANDBOX_TOML, "list", "--json").output)
    assert [(f["id"], f["name"]) for f in listed] == [(1, "Renamed"), (2, "FTP feed"), (3, "SITC feed"),
                                                      (4, "Reseller stock by email"), (5, "Brand new")]
    stored = tmp_path / "state" / "sandbox-feeds.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert [f["id"] for f in json.loads(stored.read_text())] == [1, 2, 3, 4, 5]


def test_the_sandbox_reads_its_store_again_when_another_process_changed_it(tmp_path):
    store = FeedStore(tmp_path / "sandbox-feeds.json")
    daemon_side = Sandbox.from_samples(store=store)
    other = Sandbox.from_samples(store=FeedStore(tmp_path / "sandbox-feeds.json"))
    other.feeds[1] = {**other.feeds[1], "name": "Changed elsewhere"}
    other.store.save(other.feeds)
    daemon_side._refresh()
    assert daemon_side.feeds[1]["name"] == "Changed elsewhere"


def test_the_daemon_s_sandbox_moves_the_first_active_feed_into_the_start_slot(tmp_path):
    sandbox = Sandbox.from_samples(store=FeedStore(tmp_path / "sandbox-feeds.json"))
    moved = sandbox.bring_due(datetime(2026, 3, 4, 14, 47, 12, tzinfo=timezone.utc))
    assert moved["id"] == 1 and sandbox.feeds[1]["timeslot"] == 14 * 60 + 30
    assert json.loads((tmp_path / "sandbox-feeds.json").read_text())[0]["timeslot"] == 870
    for fid in sandbox.feeds:
        sandbox.feeds[fid] = {**sandbox.feeds[fid], "active": False}
    assert sandbox.bring_due(datetime(2026, 3, 4, 0, 5, tzinfo=timezone.utc)) is None


def test_the_readme_sandbox_daemon_delivers_within_its_first_minute(tmp_path, sandbox_copy):
    """`feeds --config sample_configs/sandbox.toml daemon --web-port N`, a real process, as the README says."""
    current_slot()  # not within the last minute of a slot
    port = free_port()
    daemon = DaemonProcess(sandbox_copy, tmp_path / "daemon.log", port)
    journal = tmp_path / "outbox" / "1" / "deliveries.jsonl"
    wait_for(journal.exists, timeout=60, what="a delivery of the sandbox daemon in outbox/1")
    delivered = json.loads(journal.read_text().splitlines()[0])
    assert delivered["method"] == "EMAIL" and Path(delivered["file"]).is_file()
    assert Path(delivered["file"]).parent == tmp_path / "outbox" / "1"
    assert "moved to timeslot" in daemon.text()
    assert f"ledger {tmp_path}/state/feeds.db (state.database in {sandbox_copy})" in daemon.text()
    page = wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/"), what="the status page")
    assert page.status_code == 200 and "Email feed" in page.text
    assert "feeds_runs_total" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert daemon.stop() == 0
