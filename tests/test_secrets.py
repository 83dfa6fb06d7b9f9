"""No secret ever appears in output, logs, the ledger, the archive, the outbox or manifests."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from feeds.cli import cli
from feeds.hub.sandbox import RunningSandbox, Sandbox

from conftest import write_settings
from servers import Certificates, FtpServer, SftpServer, SmtpServer

HUB_SECRET = "hub-secret-Zq81x"
FTP_SECRET = "ftp-secret-Kw52m"
WRONG_FTP_SECRET = "wrong-ftp-secret-Pp09"
SMTP_SECRET = "smtp-secret-Ah77c"
SITC_SECRET = "sitc-secret-Rr31d"
SFTP_SECRET = "sftp-secret-Uu64e"
WRONG_HUB_SECRET = "wrong-hub-secret-Tt12"
SECRETS = [HUB_SECRET, FTP_SECRET, WRONG_FTP_SECRET, SMTP_SECRET, SITC_SECRET, SFTP_SECRET, WRONG_HUB_SECRET]


def everything_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def ledger_dump(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return "\n".join(str(row) for line in db.iterdump() for row in [line])


@pytest.fixture
def world(tmp_path):
    (tmp_path / "certs").mkdir()
    certs = Certificates(tmp_path / "certs")
    ftp_root, sftp_root = tmp_path / "ftp", tmp_path / "sftp"
    ftp_root.mkdir()
    sftp_root.mkdir()
    with FtpServer(ftp_root, password=FTP_SECRET) as ftp, \
            SftpServer(sftp_root, password=SFTP_SECRET) as sftp, \
            SftpServer(tmp_path, user="sitc", password=SITC_SECRET) as sitc_server, \
            SmtpServer(certs, username="mailer", password=SMTP_SECRET) as smtp:
        base = {"organisation": 1, "active": True, "timeslot": 60, "columns": ["name", "price"]}
        ftp_feed = {**base, "delivery_method": "FTP", "delivery_procotol": "FTP", "delivery_server": "127.0.0.1",
                    "delivery_port": ftp.port, "delivery_user": ftp.user}
        feeds = {
            1: {**ftp_feed, "id": 1, "name": "ftp ok", "delivery_password": FTP_SECRET},
            2: {**ftp_feed, "id": 2, "name": "ftp wrong", "delivery_password": WRONG_FTP_SECRET},
            3: {**base, "id": 3, "name": "mail", "delivery_method": "EMAIL", "delivery_email": "r@example.com"},
            4: {**base, "id": 4, "name": "sitc", "delivery_method": "SITC", "sitc_confirm": True,
                "sitc_filename": "sitc.csv"},
            5: {**ftp_feed, "id": 5, "name": "sftp", "delivery_procotol": "SFTP", "delivery_port": sftp.port,
                "delivery_user": sftp.user, "delivery_password": SFTP_SECRET},
        }
        sandbox = Sandbox(feeds=feeds, clients={"secret-client": HUB_SECRET})
        with RunningSandbox(sandbox) as hub:
            settings = write_settings(tmp_path / "feeds.toml", f"""
[hub]
base_url = "{hub.base_url}"
client_id = "secret-client"
[smtp]
host = "127.0.0.1"
port = {smtp.port}
username = "mailer"
sender = "feeds@example.com"
ca_file = "{certs.ca_file}"
[sitc]
protocol = "SFTP"
host = "127.0.0.1"
port = {sitc_server.port}
username = "sitc"
directory = "/"
[sftp]
host_key_policy = "tofu"
[delivery]
retry_wait = 0
[state]
database = "{tmp_path}/state/feeds.db"
""")
            env = {"FEEDS_HUB_CLIENT_SECRET": HUB_SECRET, "FEEDS_SMTP_PASSWORD": SMTP_SECRET,
                   "FEEDS_SITC_PASSWORD": SITC_SECRET}
            yield {"settings": settings, "env": env, "sandbox": sandbox, "tmp": tmp_path, "hub": hub}


def test_no_secret_anywhere(world, tmp_path):
    runner = CliRunner()
    outputs: list[str] = []

    def run(*args, env=None):
        result = runner.invoke(cli, list(args), env=env or world["env"], catch_exceptions=False)
        outputs.append(result.output)
        return result

    conf = str(world["settings"])
    upload = tmp_path / "upload.json"
    upload.write_text(json.dumps({"organisation": 2, "name": "up", "timeslot": 0, "columns": ["name"],
                                  "delivery_method": "FTP", "delivery_procotol": "FTPS",
                                  "delivery_server": "ftp.example.com", "delivery_user": "u",
                                  "delivery_password": FTP_SECRET}))
    for verbosity in ([], ["-v"], ["-vv"], ["-vv", "--log-format", "json"]):
        base = [*verbosity, "--config", conf]
        assert run(*base, "list").exit_code == 0
        run(*base, "list", "--json")
        for feed_id in ("1", "2", "5"):
            assert run(*base, "show", feed_id).exit_code == 0
            run(*base, "show", feed_id, "--json")
        run(*base, "validate", "--remote")
        run(*base, "validate", "--remote", "--json")
        run(*base, "upload", str(upload), "--dry-run")
        run(*base, "upload", str(upload))
        for feed_id in ("1", "2", "3", "4", "5"):
            run(*base, "run", "--id", feed_id)
        run(*base, "run", "--id", "1", "--dry-run", "--output", str(tmp_path / "dry.csv"))
        run(*base, "history")
        run(*base, "history", "--json")
        # Hub refusing the client credentials
        run(*base, "list", env={**world["env"], "FEEDS_HUB_CLIENT_SECRET": WRONG_HUB_SECRET})
        # a settings error mentioning a secret setting
        run(*verbosity, "--config", conf, "list", env={**world["env"], "FEEDS_SMTP_PORT": "not-a-port"})

    runs = json.loads(run("--config", conf, "history", "--json", "--limit", "100").output)
    statuses = {r["feed_name"]: r["status"] for r in runs}
    assert statuses == {"ftp ok": "delivered", "ftp wrong": "failed", "mail": "delivered", "sitc": "delivered",
                        "sftp": "delivered"}, statuses
    assert any("refused the client credentials" in o for o in outputs)

    # The same runs into an outbox: manifests and .eml files too.
    outbox_env = {**world["env"], "FEEDS_DELIVERY_OUTBOX": str(tmp_path / "outbox")}
    for feed_id in ("1", "3", "4", "5"):
        assert run("-vv", "--config", conf, "run", "--id", feed_id, env=outbox_env).exit_code == 0

    haystacks = {
        "output and logs": "\n".join(outputs).encode(),
        "ledger": ledger_dump(tmp_path / "state" / "feeds.db").encode(),
        "database files": everything_under(tmp_path / "state"),
        "outbox": everything_under(tmp_path / "outbox"),
    }
    assert (tmp_path / "outbox" / "1" / "Hub Feed").parent.exists()
    assert list((tmp_path / "state" / "archive").rglob("*.csv"))
    tokens = world["sandbox"].recorded.tokens
    assert tokens
    for where, text in haystacks.items():
        for secret in SECRETS + tokens:
            assert secret.encode() not in text, f"{secret} found in {where}"
    manifest = json.loads(next((tmp_path / "outbox" / "5").glob("*.manifest.json")).read_text())
    assert manifest["remote"]["password"] == "********"


def test_short_secrets_do_not_mangle_ordinary_text():
    from feeds import redact

    redact.register("price", "stock-secret-1")
    assert redact.redact("prices.csv, stock-secret-1") == "prices.csv, ********"
    from feeds.config import masked

    assert masked({"delivery_password": "pw"})["delivery_password"] == "********"
