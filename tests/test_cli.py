"""The commands of the foundation, through click's runner and a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from click.testing import CliRunner

from feeds.cli import cli

from conftest import BIN, SAMPLES, SANDBOX_TOML, write_settings

#: the README's sandbox settings, copied into each test's folder
pytestmark = pytest.mark.usefixtures("sandbox_copy")


def error_line(output: str) -> str:
    """The one ``error:`` line of a command's output (log lines of other tests' threads may share the stream)."""
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    return line


def invoke(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def http_settings(hub_server, tmp_path):
    return str(write_settings(tmp_path / "feeds.toml", f"""
[hub]
base_url = "{hub_server.base_url}"
client_id = "sandbox"
client_secret = "sandbox-secret"
[state]
database = "{tmp_path}/state/feeds.db"
"""))


def test_validate_valid_files():
    result = invoke("validate", str(SAMPLES / "feeds" / "1-email.json"), str(SAMPLES / "feeds" / "3-sitc.json"))
    assert result.exit_code == 0
    assert "1-email.json: valid (1 feed)" in result.output


def test_validate_invalid_file_explains_and_exits_1():
    result = invoke("validate", str(SAMPLES / "feeds" / "invalid-timeslot.json"))
    assert result.exit_code == 1
    assert "error: timeslot: 45 is not a multiple of 30 (try 30 or 60)" in result.output


def test_validate_all_samples():
    paths = sorted(str(p) for p in (SAMPLES / "feeds").glob("*.json"))
    result = invoke("validate", *paths)
    assert result.exit_code == 1
    for path in paths:
        name = os.path.basename(path)
        verdict = "valid (" if not name.startswith("invalid") else "invalid ("
        assert f"{name}: {verdict}" in result.output, name
    assert "s3cret-do-not-print" not in result.output


def test_the_readme_says_which_samples_are_invalid_on_purpose():
    readme = (SAMPLES.parent / "README.md").read_text()
    (line,) = [line for line in readme.splitlines() if line.endswith("validate sample_configs/feeds/*.json") or
               "validate sample_configs/feeds/*.json " in line]
    assert "exits 1: the invalid-*.json samples are invalid on purpose" in line
    assert "the `invalid-*.json` samples are invalid\non purpose" in readme
    invalid = [report["file"] for report in json.loads(invoke(
        "validate", "--json", *sorted(str(p) for p in (SAMPLES / "feeds").glob("*.json"))).output) if not report["valid"]]
    assert invalid and all(os.path.basename(path).startswith("invalid-") for path in invalid)


@pytest.mark.parametrize("content, expected", [
    (b"{nope", "is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2"),
    (b"\xff\xfe{}", "is not UTF-8 text (byte 0xff at offset 0)"),
    (b'{"a": NaN}', "NaN is not allowed"),
])
def test_validate_unreadable_input_exits_2(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = invoke("validate", str(path))
    assert result.exit_code == 2
    assert expected in result.output


@pytest.mark.parametrize("content, expected", [
    (b"", "t.json: cannot be validated: it is empty; give one feed configuration object, or a list of them, in JSON"),
    (b" \n\t", "t.json: cannot be validated: it holds only white space; give one feed configuration object"),
])
def test_validate_an_empty_file_says_it_is_empty(tmp_path, content, expected):
    path = tmp_path / "t.json"
    path.write_bytes(content)
    result = invoke("validate", str(path))
    assert result.exit_code == 2
    assert result.output.startswith(str(tmp_path / expected)) and "Expecting value" not in result.output


def test_validate_an_empty_list_counts_no_feed(tmp_path):
    path = tmp_path / "t.json"
    path.write_text("[]")
    result = invoke("validate", str(path))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{path}: invalid (1 error, no feed)",
        "  error: is an empty list, so it holds no feed; give one feed configuration object, or a list of at least one",
    ]
    (report,) = json.loads(invoke("validate", "--json", str(path)).output)
    assert report["feeds"] == 0 and not report["valid"]


def test_validate_missing_file_exits_2(tmp_path):
    result = invoke("validate", str(tmp_path / "none.json"))
    assert result.exit_code == 2 and "does not exist" in result.output


def test_validate_stdin_and_json_output():
    feed = json.loads((SAMPLES / "feeds" / "invalid-sitc-path.json").read_text())
    result = invoke("validate", "--json", "-", input=json.dumps(feed))
    assert result.exit_code == 1
    (report,) = json.loads(result.output)
    assert report["file"] == "<stdin>" and report["valid"] is False
    assert {"path": "sitc_confirm", "message": report["errors"][1]["message"]} in report["errors"]
    assert report["warnings"][0]["path"] == "delimeter"


def test_validate_warns_about_duplicate_keys(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{"organisation": 1, "name": "a", "timeslot": 30, "timeslot": 60, "columns": ["name"],'
                    ' "delivery_method": "EMAIL", "delivery_email": "a@example.com"}')
    result = invoke("validate", str(path))
    assert result.exit_code == 0 and "timeslot: appears more than once" in result.output


def test_validate_needs_a_path():
    assert invoke("validate").exit_code == 2


def test_schema_is_json():
    result = invoke("schema")
    assert result.exit_code == 0
    assert json.loads(result.output)["properties"]["timeslot"]["multipleOf"] == 30


def test_list_on_the_in_process_sandbox():
    result = invoke("--config", SANDBOX_TOML, "list")
    assert result.exit_code == 0
    for name in ["Email feed", "FTP feed", "SITC feed"]:
        assert name in result.output
    assert "password" not in result.output


def cells(table: str) -> list[list[str]]:
    """The rows of a printed table (rich's boxes taken away), each a list of its cells."""
    rows = []
    for line in table.splitlines():
        parts = [part.strip() for part in line.strip().strip("│┃").replace("┃", "│").split("│")]
        if len(parts) > 1:
            rows.append(parts)
    return rows


def test_active_reads_the_same_in_list_show_and_status(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    listed = cells(invoke("--config", SANDBOX_TOML, "list").output)
    status = cells(invoke("--config", SANDBOX_TOML, "status").output)
    column = listed[0].index("active")
    assert [row[column] for row in listed[1:]] == ["yes", "no", "yes", "yes"]
    assert [row[status[0].index("active")] for row in status[1:]] == ["yes", "no", "yes", "yes"]
    for feed_id, active in (("1", "yes"), ("2", "no")):
        shown = invoke("--config", SANDBOX_TOML, "show", feed_id).output
        assert ["active", active] in [line.split() for line in shown.splitlines()]
        assert "True" not in shown and "False" not in shown


def test_hubs_last_upload_is_labelled_as_hubs_beside_a_feed_never_run(tmp_path, monkeypatch):
    """Hub's last_upload is Hub's record, not a run of feeds: labelled so, it does not contradict
    `feeds status` saying the feed never ran."""
    monkeypatch.chdir(tmp_path)
    listed = cells(invoke("--config", SANDBOX_TOML, "list").output)
    assert listed[0][-1] == "last_upload (Hub)" and listed[1][-1] == "2020-06-18T00:20:00.000Z"
    assert "last upload" not in invoke("--config", SANDBOX_TOML, "list").output
    shown = invoke("--config", SANDBOX_TOML, "show", "1").output
    assert "last_upload (Hub)  2020-06-18T00:20:00.000Z" in shown
    status = cells(invoke("--config", SANDBOX_TOML, "status").output)
    assert status[1][status[0].index("last run")] == "never run"


def test_list_json_masks_secrets():
    result = invoke("--config", SANDBOX_TOML, "list", "--json")
    feeds = json.loads(result.output)
    assert [f["id"] for f in feeds] == [1, 2, 3, 4]  # both organisations' feeds, each once
    assert feeds[1]["delivery_password"] == "********"
    assert feeds[0]["last_upload"] == "2020-06-18T00:20:00.000Z"


def test_list_filters_by_organisation(http_settings, sandbox):
    sandbox.feeds[4] = {**sandbox.feeds[1], "id": 4, "organisation": 2}
    result = invoke("--config", http_settings, "list", "--json", "--organisation", "2")
    assert [f["id"] for f in json.loads(result.output)] == [4]


def test_show_masks_the_password():
    result = invoke("--config", SANDBOX_TOML, "show", "2")
    assert result.exit_code == 0
    assert "ftp.example.com" in result.output and "********" in result.output
    assert '"password"' not in result.output
    shown = json.loads(invoke("--config", SANDBOX_TOML, "show", "2", "--json").output)
    assert shown["delivery_password"] == "********"


UNKNOWN_FEED = "error: no feed 999 on Hub for these credentials; `feeds list` shows the feeds"


@pytest.mark.parametrize("command", [["show", "999"], ["run", "--id", "999"], ["run", "--id", "999", "--dry-run"],
                                     ["validate", "--remote", "--id", "999"], ["show", "999", "--json"]])
def test_an_unknown_feed_is_one_sentence(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the sandbox settings keep their ledger in ./state
    result = invoke("--config", SANDBOX_TOML, *command)
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.strip()] == [UNKNOWN_FEED]


def test_history_of_a_feed_without_runs_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("--config", SANDBOX_TOML, "history", "--id", "999")
    assert result.exit_code == 0
    first, second = result.output.splitlines()
    assert first.startswith("ledger ") and first.endswith("(state.database in sample_configs/sandbox.toml)")
    assert second == ("no runs of feed 999 in the ledger; `feeds list` shows the feeds on Hub, `feeds history` "
                      "the runs of every feed")


def test_upload_creates_and_updates(http_settings, sandbox, tmp_path):
    new = {"organisation": 2, "name": "Uploaded", "timeslot": 60, "columns": ["name", "price"],
           "delivery_method": "FTP", "delivery_procotol": "FTPS", "delivery_server": "ftp.example.com",
           "delivery_user": "u", "delivery_password": "upload-secret-42"}
    path = tmp_path / "new.json"
    path.write_text(json.dumps(new))
    dry = invoke("--config", http_settings, "upload", str(path), "--dry-run")
    assert dry.exit_code == 0 and "would create a new feed" in dry.output and 5 not in sandbox.feeds
    created = invoke("--config", http_settings, "upload", str(path))
    assert created.exit_code == 0 and "created feed 5" in created.output
    assert sandbox.feeds[5]["delivery_password"] == "upload-secret-42"
    path.write_text(json.dumps({**new, "id": 5, "timeslot": 90}))
    updated = invoke("--config", http_settings, "upload", str(path))
    assert updated.exit_code == 0 and "updated feed 5" in updated.output
    assert sandbox.feeds[5]["timeslot"] == 90
    assert "upload-secret-42" not in created.output + updated.output + dry.output


def test_upload_refuses_an_invalid_file_before_sending(http_settings, sandbox):
    result = invoke("--config", http_settings, "upload", str(SAMPLES / "feeds" / "invalid-ftp-server-url.json"))
    assert result.exit_code == 1
    assert "nothing was uploaded" in result.output and "delivery_server: is a URL" in result.output
    assert "s3cret-do-not-print" not in result.output
    assert sandbox.recorded.counts["POST /feeds"] == 0


def test_validate_remote(http_settings, sandbox):
    sandbox.feeds[4] = {**sandbox.feeds[1], "id": 4, "timeslot": 45}
    result = invoke("--config", http_settings, "validate", "--remote")
    assert result.exit_code == 1
    assert "feed 1 (Email feed): valid" in result.output
    assert "feed 4 (Email feed): invalid" in result.output and "timeslot: 45" in result.output
    one = invoke("--config", http_settings, "validate", "--remote", "--id", "2", "--json")
    assert one.exit_code == 0 and json.loads(one.output)[0]["valid"] is True


def test_bad_settings_exit_2(tmp_path):
    bad = write_settings(tmp_path / "bad.toml", "[hub]\nclient_secrett = 'x'\n")
    result = invoke("--config", str(bad), "list")
    assert result.exit_code == 2
    assert error_line(result.output) == (
        f"error: unknown setting hub.client_secrett in {bad}; [hub] takes base_url, token_url, client_id, "
        "client_secret, per_page, timeout, attempts, concurrency"
    )


def test_unreachable_hub_is_one_sentence(tmp_path):
    conf = write_settings(tmp_path / "f.toml", '[hub]\nbase_url = "http://127.0.0.1:9/api/v1"\nattempts = 1\n'
                                               'client_id = "id"\nclient_secret = "secret"\n')
    result = invoke("--config", str(conf), "list")
    assert result.exit_code == 1
    assert error_line(result.output).startswith("error: Hub could not be reached")


def test_installed_command_in_a_subprocess(tmp_path):
    feeds = BIN / "feeds"
    assert feeds.exists(), "the feeds console script is installed"
    done = subprocess.run([str(feeds), "--config", SANDBOX_TOML, "list", "--json"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [f["name"] for f in json.loads(done.stdout)] == ["Email feed", "FTP feed", "SITC feed",
                                                           "Reseller stock by email"]
    bad = subprocess.run([str(feeds), "validate", str(SAMPLES / "feeds" / "invalid-timeslot.json")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "45 is not a multiple of 30" in bad.stdout
    usage = subprocess.run([str(feeds), "run"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "Missing option '--id'" in usage.stderr
