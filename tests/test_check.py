"""``feeds check``: credentials and destinations tested against real servers, sending no feed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feeds.cli import cli
from feeds.hub.sandbox import RunningSandbox, Sandbox
from feeds.hub.sandbox.api import Organisation

from conftest import two_organisations, write_settings
from servers import Certificates, FtpServer, SftpServer, SmtpServer
from test_cli import error_line, invoke

FEED = {"organisation": 1, "active": True, "timeslot": 150, "columns": ["name", "price"]}


def settings_file(tmp_path: Path, base_url: str, extra: str = "") -> str:
    return str(write_settings(tmp_path / "feeds.toml", f"""
[hub]
base_url = "{base_url}"
client_id = "sandbox"
client_secret = "sandbox-secret"
[delivery]
timeout = 5
[state]
database = "{tmp_path / 'state' / 'feeds.db'}"
{extra}
"""))


def upload_feed(server, protocol: str, name: str, **extra) -> dict:
    return {**FEED, "name": name, "delivery_method": "FTP", "delivery_procotol": protocol,
            "delivery_server": "127.0.0.1", "delivery_port": server.port, "delivery_user": server.user,
            "delivery_password": server.password, **extra}


def hidden_and_not_csv(names: list[str]) -> bool:
    return bool(names) and all(Path(n).name.startswith(".") and not n.endswith(".csv") for n in names)


@pytest.fixture
def certs(tmp_path):
    folder = tmp_path / "certs"
    folder.mkdir()
    return Certificates(folder)


def verdicts(output: str) -> list[str]:
    """The test lines of ``feeds check``'s output (log lines share the stream in tests)."""
    return [line for line in output.splitlines() if line.startswith(("ok ", "FAILED ", "all ", "0 ", "1 ", "2 "))]


def test_check_passes_with_good_logins_and_leaves_nothing_behind(tmp_path, certs):
    (tmp_path / "ftp").mkdir()
    (tmp_path / "sftp" / "in").mkdir(parents=True)
    with FtpServer(tmp_path / "ftp") as ftp, SftpServer(tmp_path / "sftp") as sftp, \
            SmtpServer(certs, username="mailer", password="smtp-pass-456") as smtp:
        sandbox = Sandbox(feeds={
            1: {**upload_feed(ftp, "FTP", "ftp feed"), "id": 1},
            2: {**upload_feed(sftp, "SFTP", "sftp feed", delivery_path="/in"), "id": 2},
            3: {**FEED, "id": 3, "name": "mail feed", "delivery_method": "EMAIL", "delivery_email": "r@example.com"},
            4: {**FEED, "id": 4, "name": "inactive", "active": False, "delivery_method": "EMAIL",
                "delivery_email": "x@example.com"},
        })
        with RunningSandbox(sandbox) as hub:
            conf = settings_file(tmp_path, hub.base_url, f"""
[smtp]
host = "127.0.0.1"
port = {smtp.port}
username = "mailer"
password = "smtp-pass-456"
ca_file = "{certs.ca_file}"
""")
            result = invoke("--config", conf, "check", "--json")
            text = invoke("--config", conf, "check")
        checks = json.loads(result.stdout)
        assert result.exit_code == 0, result.output
        assert [c["ok"] for c in checks] == [True] * 4
        assert checks[0]["test"] == "Hub credentials [hub]" and "organisation 1" in checks[0]["detail"]
        assert [c["test"] for c in checks[1:]] == [
            f"feed 1 (ftp feed) -> ftp://feeder@127.0.0.1:{ftp.port}/",
            f"feed 2 (sftp feed) -> sftp://feeder@127.0.0.1:{sftp.port}/in",
            "feed 3 (mail feed) -> email to r@example.com",
        ]
        assert "no mail sent" in checks[3]["detail"] and smtp.logins == [("mailer", True), ("mailer", True)]
        assert text.exit_code == 0 and verdicts(text.output)[-1] == "all 4 tests passed"
        # Probes were written and renamed under hidden, non-CSV names, then deleted; no mail went out.
        assert hidden_and_not_csv(ftp.names) and hidden_and_not_csv(sftp.names)
        assert ftp.files() == {} and sftp.files("in") == {} and smtp.mails == []


def test_check_names_a_refused_login_and_a_read_only_folder(tmp_path):
    (tmp_path / "ftp").mkdir()
    (tmp_path / "sftp").mkdir()
    with FtpServer(tmp_path / "ftp", perm="elr") as read_only, SftpServer(tmp_path / "sftp") as sftp:
        sandbox = Sandbox(feeds={
            1: {**upload_feed(read_only, "FTP", "read-only"), "id": 1},
            2: {**upload_feed(sftp, "SFTP", "wrong password", delivery_password="not-the-password"), "id": 2},
        })
        with RunningSandbox(sandbox) as hub:
            result = invoke("--config", settings_file(tmp_path, hub.base_url), "check")
        assert result.exit_code == 1
        lines = verdicts(result.output)
        assert lines[1].startswith("FAILED feed 1 (read-only) -> ftp://") and "folder not writable: " in lines[1]
        assert lines[2].startswith("FAILED feed 2 (wrong password) -> sftp://") and "login refused: " in lines[2]
        assert "not-the-password" not in result.output
        assert lines[-1] == "1 of 3 tests passed"
        assert read_only.files() == {} and sftp.files() == {}


def test_check_tells_a_changed_host_key(tmp_path):
    (tmp_path / "sftp").mkdir()
    with SftpServer(tmp_path / "sftp") as first:
        port = first.port
        sandbox = Sandbox(feeds={1: {**upload_feed(first, "SFTP", "keyed"), "id": 1}})
        with RunningSandbox(sandbox) as hub:
            conf = settings_file(tmp_path, hub.base_url)
            assert invoke("--config", conf, "check", "--id", "1").exit_code == 0  # remembers the key (tofu)
    with SftpServer(tmp_path / "sftp", port=port) as second, RunningSandbox(sandbox) as hub:
        conf = settings_file(tmp_path, hub.base_url)
        result = invoke("--config", conf, "check", "--id", "1", "--json")
        checks = json.loads(result.stdout)
        assert result.exit_code == 1 and checks[-1]["reason"] == "host key changed"
        assert second.logins == []  # refused before the password was sent


def test_check_reports_refused_hub_credentials(tmp_path):
    with RunningSandbox(Sandbox.from_samples()) as hub:
        conf = settings_file(tmp_path, hub.base_url).replace("sandbox-secret", "wrong-secret")
        Path(conf).write_text(Path(conf).read_text().replace('"sandbox-secret"', '"wrong-secret"'))
        result = invoke("--config", conf, "check")
    assert result.exit_code == 1
    assert verdicts(result.output)[0].startswith("FAILED Hub credentials [hub]: login refused: Hub refused the client credentials")
    assert "wrong-secret" not in result.output


def test_check_is_a_command(tmp_path):
    assert "check" in cli.commands


def test_feeds_with_different_passwords_never_share_a_verdict_and_each_password_is_masked(tmp_path):
    """One FTP server, two users: organisation 1's feed logs in as feeder with a wrong (short) password,
    organisation 2's two feeds as feeder with the right one, a fourth feed as buyer with its own; the
    server echoes refused passwords. Each login gets its own probe; feeds with the same whole login share one."""
    (tmp_path / "ftp").mkdir()
    with FtpServer(tmp_path / "ftp", other_users={"buyer": "buyer-pass-789"}, echo_refused_password=True) as ftp:
        sandbox = Sandbox(feeds={
            1: {**upload_feed(ftp, "FTP", "distributor", delivery_password="pw1"), "id": 1},
            2: {**upload_feed(ftp, "FTP", "reseller a", organisation=2), "id": 2},
            3: {**upload_feed(ftp, "FTP", "reseller b", organisation=2), "id": 3},
            4: {**upload_feed(ftp, "FTP", "buyer", delivery_user="buyer", delivery_password="buyer-pass-789",
                              organisation=2), "id": 4},
            5: {**upload_feed(ftp, "FTP", "buyer typo", delivery_user="buyer", delivery_password="buyer-pass-78",
                              organisation=2), "id": 5},
        })
        sandbox.add_organisation(Organisation(2, "Reseller", 1), "reseller", "reseller-secret")
        with RunningSandbox(sandbox) as hub:
            conf = str(write_settings(tmp_path / "feeds.toml", two_organisations(hub.base_url) + f"""
[delivery]
timeout = 5
[state]
database = "{tmp_path / 'state' / 'feeds.db'}"
"""))
            result = invoke("--config", conf, "check")
            as_json = json.loads(invoke("--config", conf, "check", "--json").stdout)
    lines = verdicts(result.output)
    assert result.exit_code == 1
    assert lines[0].startswith("ok     Hub credentials [hub]") and lines[1].startswith("ok     Hub credentials [organisations.2]")
    assert lines[2].startswith("FAILED feed 1 (distributor) -> ftp://feeder@") and "login refused: " in lines[2]
    assert "password ********." in lines[2]  # the server's echo, masked by structure though shorter than 6
    assert lines[3].startswith("ok     feed 2 (reseller a)") and lines[4].startswith("ok     feed 3 (reseller b)")
    assert lines[5].startswith("ok     feed 4 (buyer)")
    assert lines[6].startswith("FAILED feed 5 (buyer typo)") and "login refused: " in lines[6]
    assert "5 of 7 tests passed" in result.output.splitlines()
    assert "pw1" not in result.output and "buyer-pass-78" not in result.output.replace("buyer-pass-789", "")
    assert "pw1" not in json.dumps(as_json) and "buyer-pass-78." not in json.dumps(as_json)
    # one login per distinct (user, password) per check: feeds 2 and 3 shared theirs
    assert ftp.logins == [("feeder", False), ("feeder", True), ("buyer", True), ("buyer", False)] * 2


def test_a_feed_of_an_organisation_without_credentials_fails_the_check(tmp_path):
    (tmp_path / "ftp").mkdir()
    with FtpServer(tmp_path / "ftp") as ftp:
        sandbox = Sandbox(feeds={1: {**upload_feed(ftp, "FTP", "ours"), "id": 1},
                                 2: {**upload_feed(ftp, "FTP", "theirs", organisation=3), "id": 2}})
        with RunningSandbox(sandbox) as hub:
            conf = settings_file(tmp_path, hub.base_url)
            result = invoke("--config", conf, "check")
            single = invoke("--config", conf, "check", "--id", "2", "--json")
            remote = invoke("--config", conf, "validate", "--remote")
    assert remote.exit_code == 1
    assert remote.output.splitlines()[:3] == [
        "feed 1 (ours): valid (1 feed)",
        "feed 2 (theirs): invalid (1 error in 1 feed)",
        "  error: organisation: organisation 3 has no credentials in the settings, and a feed is only rendered from "
        "its own organisation's catalogue; add an [organisations.3] table with its client_id and client_secret (the "
        "secret better as FEEDS_ORGANISATIONS_3_CLIENT_SECRET)",
    ]
    lines = verdicts(result.output)
    assert result.exit_code == 1 and lines[1].startswith("ok     feed 1 (ours)")
    assert lines[2].startswith("FAILED feed 2 (theirs) -> ftp://feeder@127.0.0.1") and "no credentials: organisation 3 " in lines[2]
    assert "add an [organisations.3] table" in lines[2]
    assert single.exit_code == 1 and json.loads(single.stdout)[-1]["reason"] == "no credentials"
    assert ftp.logins == [("feeder", True)]  # the feed that cannot run was not probed


def test_check_of_an_unknown_feed_is_one_sentence(tmp_path):
    with RunningSandbox(Sandbox.from_samples()) as hub:
        result = invoke("--config", settings_file(tmp_path, hub.base_url), "check", "--id", "999")
    assert result.exit_code == 1
    assert error_line(result.output) == "error: no feed 999 on Hub for these credentials; `feeds list` shows the feeds"
