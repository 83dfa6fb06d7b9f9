"""``feeds check``: credentials and destinations tested against real servers, sending no feed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feeds.cli import cli
from feeds.hub.sandbox import RunningSandbox, Sandbox

from conftest import write_settings
from servers import Certificates, FtpServer, SftpServer, SmtpServer
from test_cli import invoke

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
