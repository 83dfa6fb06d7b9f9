"""Delivery to real servers on 127.0.0.1: the delivered bytes are the rendered bytes."""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import logging
import zipfile
from pathlib import Path

import asyncssh
import pytest

from feeds.config import FeedConfig
from feeds.deliver import sitc
from feeds.errors import ConfigError

from delivery_helpers import (
    email_feed, expected_bytes, ftp_feed, make_settings, run, sandbox_with, sitc_feed,
)
from servers import Certificates, FtpServer, SftpServer, SmtpServer


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certificates(tmp_path_factory.mktemp("certs"))


def no_temporaries(files: dict[str, bytes]) -> bool:
    return not [name for name in files if name.endswith(".part") or name.startswith(".")]


def archived(row) -> bytes:
    return Path(row["archive_path"]).read_bytes()


# --- FTP and FTPS ---------------------------------------------------------------------------


@pytest.fixture
def ftp_root(tmp_path):
    root = tmp_path / "ftp"
    root.mkdir()
    return root


def test_ftp_delivers_the_exact_bytes(tmp_path, ftp_root):
    with FtpServer(ftp_root) as server:
        settings = make_settings(tmp_path)
        sandbox = sandbox_with(ftp_feed(server, filename="Stock %Y.csv"))
        result, row, attempts = run(settings, sandbox)
        assert result.status == "delivered", result.error
        files = server.files()
        name = result.filename
        assert name.startswith("Stock 20") and list(files) == [name]
        assert files[name] == expected_bytes(settings, sandbox) == archived(row)
        assert row["sha256"] == hashlib.sha256(files[name]).hexdigest() and row["bytes"] == len(files[name])
        assert row["status"] == "delivered" and row["attempts"] == 1 and len(attempts) == 1
        assert row["destination"] == f"ftp://feeder@127.0.0.1:{server.port}/{name}"
        assert "PASV" in server.commands or "EPSV" in server.commands
        assert "RNFR" in server.commands and "SIZE" in server.commands


def test_ftps_with_explicit_tls_protected_data_and_a_verified_certificate(tmp_path, ftp_root, certs):
    with FtpServer(ftp_root, tls=True, certificates=certs) as server:
        settings = make_settings(tmp_path, ftps={"ca_file": str(certs.ca_file)})
        sandbox = sandbox_with(ftp_feed(server, "FTPS"))
        result, row, _ = run(settings, sandbox)
        assert result.status == "delivered", result.error
        assert server.files()[result.filename] == expected_bytes(settings, sandbox)
        assert server.commands[:1] == ["AUTH"] and "PROT" in server.commands and "PBSZ" in server.commands


def test_ftps_refuses_a_certificate_that_does_not_match(tmp_path, ftp_root, certs):
    with FtpServer(ftp_root, tls=True, certificates=certs, wrong_certificate=True) as server:
        settings = make_settings(tmp_path, ftps={"ca_file": str(certs.ca_file)})
        result, row, attempts = run(settings, sandbox_with(ftp_feed(server, "FTPS")))
        assert result.status == "failed"
        assert "TLS certificate was refused" in result.error and "127.0.0.1" in result.error
        assert len(attempts) == 1  # permanent: not retried
        assert server.files() == {} and "USER" not in server.commands


def test_ftps_refuses_an_unknown_ca(tmp_path, ftp_root, certs):
    with FtpServer(ftp_root, tls=True, certificates=certs) as server:
        result, _, attempts = run(make_settings(tmp_path), sandbox_with(ftp_feed(server, "FTPS")))
        assert result.status == "failed" and "certificate" in result.error and len(attempts) == 1


def test_ftps_without_verification_warns_on_every_use(tmp_path, ftp_root, certs, caplog):
    with FtpServer(ftp_root, tls=True, certificates=certs, wrong_certificate=True) as server:
        settings = make_settings(tmp_path, ftps={"verify": False})
        with caplog.at_level(logging.WARNING):
            result, _, _ = run(settings, sandbox_with(ftp_feed(server, "FTPS")))
        assert result.status == "delivered", result.error
        assert "FTPS certificate verification is off" in caplog.text


def test_ftp_wrong_password_fails_at_once(tmp_path, ftp_root):
    with FtpServer(ftp_root) as server:
        feed = ftp_feed(server, delivery_password="not-the-password-77")
        result, row, attempts = run(make_settings(tmp_path), sandbox_with(feed))
        assert result.status == "failed" and "refused the login" in result.error
        assert len(attempts) == 1 and row["attempts"] == 1
        assert "not-the-password-77" not in result.error


def test_ftp_server_down_is_retried_then_fails(tmp_path):
    from servers import free_port

    class Down:
        port, user, password = free_port(), "u", "p-down-123"

    result, row, attempts = run(make_settings(tmp_path), sandbox_with(ftp_feed(Down)))
    assert result.status == "failed" and "connection refused" in result.error and "gave up after 3 attempts" in result.error
    assert [a["number"] for a in attempts] == [1, 2, 3] and all(a["error"] for a in attempts)


def test_ftp_connection_dropped_halfway_is_retried_and_nothing_partial_remains(tmp_path, ftp_root):
    with FtpServer(ftp_root) as server:
        server.faults.drop_after = 40_000
        sandbox = sandbox_with(ftp_feed(server))
        sandbox.catalogue.count = 2000
        settings = make_settings(tmp_path)
        result, row, attempts = run(settings, sandbox)
        assert result.status == "delivered", result.error
        assert len(attempts) == 2 and attempts[0]["error"] and attempts[1]["error"] is None
        files = server.files()
        assert list(files) == [result.filename] and no_temporaries(files)
        assert files[result.filename] == expected_bytes(settings, sandbox)


def test_ftp_dropped_every_time_leaves_no_partial_file(tmp_path, ftp_root):
    with FtpServer(ftp_root) as server:
        server.faults.drop_after, server.faults.drops = 20_000, 10
        sandbox = sandbox_with(ftp_feed(server))
        sandbox.catalogue.count = 2000
        result, _, attempts = run(make_settings(tmp_path), sandbox)
        assert result.status == "failed" and len(attempts) == 3
        assert result.filename not in server.files()
        assert no_temporaries(server.files())


def test_ftp_replaces_an_older_file_and_uses_delivery_path(tmp_path, ftp_root):
    (ftp_root / "incoming").mkdir()
    (ftp_root / "incoming" / "Stock.csv").write_bytes(b"old contents")
    with FtpServer(ftp_root) as server:
        settings = make_settings(tmp_path)
        sandbox = sandbox_with(ftp_feed(server, filename="Stock.csv", delivery_path="/incoming"))
        result, row, _ = run(settings, sandbox)
        assert result.status == "delivered", result.error
        assert server.files("incoming") == {"Stock.csv": expected_bytes(settings, sandbox)}
        assert row["destination"].endswith("/incoming/Stock.csv")


def test_ftp_server_that_refuses_to_rename_over_a_file(tmp_path, ftp_root):
    (ftp_root / "Stock.csv").write_bytes(b"old")
    with FtpServer(ftp_root) as server:
        server.faults.refuse_rename_over = True
        settings = make_settings(tmp_path)
        sandbox = sandbox_with(ftp_feed(server, filename="Stock.csv"))
        result, _, _ = run(settings, sandbox)
        assert result.status == "delivered", result.error
        assert server.files() == {"Stock.csv": expected_bytes(settings, sandbox)}


def test_ftp_missing_folder_is_a_clear_permanent_error(tmp_path, ftp_root):
    with FtpServer(ftp_root) as server:
        result, _, attempts = run(make_settings(tmp_path), sandbox_with(ftp_feed(server, delivery_path="/nope")))
        assert result.status == "failed" and "opening the folder '/nope'" in result.error and len(attempts) == 1


def test_ftp_permission_denied_is_permanent(tmp_path, ftp_root):
    with FtpServer(ftp_root, perm="elr") as server:
        result, _, attempts = run(make_settings(tmp_path), sandbox_with(ftp_feed(server)))
        assert result.status == "failed" and "refused" in result.error and len(attempts) == 1
        assert server.files() == {}


def test_ftp_disk_full_is_retried(tmp_path, ftp_root):
    with FtpServer(ftp_root) as server:
        server.faults.disk_full = 1
        settings = make_settings(tmp_path)
        sandbox = sandbox_with(ftp_feed(server))
        result, _, attempts = run(settings, sandbox)
        assert result.status == "delivered", result.error
        assert "426" in attempts[0]["error"]  # pyftpdlib's answer to ENOSPC
        assert server.files() == {result.filename: expected_bytes(settings, sandbox)}


def test_a_filename_with_a_path_is_refused_before_connecting(tmp_path, ftp_root):
    with FtpServer(ftp_root) as server:
        result, row, attempts = run(make_settings(tmp_path), sandbox_with(ftp_feed(server, filename="../%Y.csv")))
        assert result.status == "failed" and "filename" in result.error and "path separator" in result.error
        assert server.commands == [] and attempts == []


# --- SFTP ---------------------------------------------------------------------------------------


@pytest.fixture
def sftp_root(tmp_path):
    root = tmp_path / "sftp"
    root.mkdir()
    return root


def test_sftp_delivers_the_exact_bytes_and_remembers_the_host_key(tmp_path, sftp_root):
    with SftpServer(sftp_root) as server:
        settings = make_settings(tmp_path)
        sandbox = sandbox_with(ftp_feed(server, "SFTP", filename="stock.csv"))
        result, row, _ = run(settings, sandbox)
        assert result.status == "delivered", result.error
        assert server.files() == {"stock.csv": expected_bytes(settings, sandbox)}
        from feeds.ledger import Ledger

        with Ledger(settings.state.database_url) as ledger:
            key_type, _, fingerprint = ledger.host_keys.get("127.0.0.1", server.port)
        assert key_type == "ssh-ed25519" and fingerprint.startswith("SHA256:")
        again, _, _ = run(settings, sandbox)
        assert again.status == "delivered"


def test_sftp_changed_host_key_is_refused_naming_both_fingerprints(tmp_path, sftp_root):
    settings = make_settings(tmp_path)
    with SftpServer(sftp_root) as first:
        sandbox = sandbox_with(ftp_feed(first, "SFTP", filename="stock.csv"))
        assert run(settings, sandbox)[0].status == "delivered"
        port, old_key = first.port, first.host_key
    (sftp_root / "stock.csv").unlink()
    new_key = asyncssh.generate_private_key("ssh-ed25519")
    with SftpServer(sftp_root, port=port, host_key=new_key) as second:
        result, _, attempts = run(settings, sandbox)
        assert result.status == "failed" and "host key changed" in result.error
        old_fp = _fingerprint(old_key)
        new_fp = _fingerprint(new_key)
        assert old_fp in result.error and new_fp in result.error
        assert len(attempts) == 1 and second.files() == {} and second.logins == []


def _fingerprint(key: asyncssh.SSHKey) -> str:
    return key.get_fingerprint("sha256")


def test_sftp_strict_policy_uses_known_hosts(tmp_path, sftp_root):
    with SftpServer(sftp_root) as server:
        known = tmp_path / "known_hosts"
        settings = make_settings(tmp_path, sftp={"host_key_policy": "strict", "known_hosts": str(known)})
        known.write_text("")
        sandbox = sandbox_with(ftp_feed(server, "SFTP"))
        refused, _, _ = run(settings, sandbox)
        assert refused.status == "failed" and "is not in" in refused.error and _fingerprint(server.host_key) in refused.error
        public = server.host_key.export_public_key("openssh").decode().split()[:2]
        known.write_text(f"[127.0.0.1]:{server.port} {public[0]} {public[1]}\n")
        result, _, _ = run(settings, sandbox)
        assert result.status == "delivered", result.error


def test_sftp_insecure_policy_warns(tmp_path, sftp_root, caplog):
    with SftpServer(sftp_root) as server:
        settings = make_settings(tmp_path, sftp={"host_key_policy": "insecure"})
        with caplog.at_level(logging.WARNING):
            result, _, _ = run(settings, sandbox_with(ftp_feed(server, "SFTP")))
        assert result.status == "delivered"
        assert "accepted without checking" in caplog.text


def test_sftp_wrong_password_fails_at_once(tmp_path, sftp_root):
    with SftpServer(sftp_root) as server:
        result, _, attempts = run(make_settings(tmp_path),
                                  sandbox_with(ftp_feed(server, "SFTP", delivery_password="wrong-sftp-pw-9")))
        assert result.status == "failed" and "refused the login" in result.error and len(attempts) == 1
        assert "wrong-sftp-pw-9" not in result.error


def test_sftp_dropped_halfway_is_retried_and_nothing_partial_remains(tmp_path, sftp_root):
    with SftpServer(sftp_root) as server:
        server.faults.drop_after = 40_000
        settings = make_settings(tmp_path)
        sandbox = sandbox_with(ftp_feed(server, "SFTP", filename="stock.csv"))
        sandbox.catalogue.count = 2000
        result, _, attempts = run(settings, sandbox)
        assert result.status == "delivered", result.error
        assert len(attempts) == 2
        assert server.files() == {"stock.csv": expected_bytes(settings, sandbox)}


def test_sftp_permission_denied_is_permanent(tmp_path, sftp_root):
    with SftpServer(sftp_root) as server:
        server.faults.deny_writes = True
        result, _, attempts = run(make_settings(tmp_path), sandbox_with(ftp_feed(server, "SFTP")))
        assert result.status == "failed" and "permission denied" in result.error and len(attempts) == 1


def test_sftp_disk_full_is_retried_and_cleaned_up(tmp_path, sftp_root):
    with SftpServer(sftp_root) as server:
        server.faults.disk_full = 1
        settings = make_settings(tmp_path)
        sandbox = sandbox_with(ftp_feed(server, "SFTP", filename="stock.csv"))
        result, _, attempts = run(settings, sandbox)
        assert result.status == "delivered" and len(attempts) == 2
        assert server.files() == {"stock.csv": expected_bytes(settings, sandbox)}


def test_sftp_without_posix_rename_still_replaces_the_old_file(tmp_path, sftp_root):
    (sftp_root / "up").mkdir()
    (sftp_root / "up" / "stock.csv").write_bytes(b"old")
    with SftpServer(sftp_root, posix_rename=False) as server:
        settings = make_settings(tmp_path)
        sandbox = sandbox_with(ftp_feed(server, "SFTP", filename="stock.csv", delivery_path="/up"))
        result, _, _ = run(settings, sandbox)
        assert result.status == "delivered", result.error
        assert server.files("up") == {"stock.csv": expected_bytes(settings, sandbox)}


# --- SITC ----------------------------------------------------------------------------------------


def test_sitc_goes_to_the_target_in_the_settings_under_sitc_filename(tmp_path, sftp_root):
    (sftp_root / "sitc").mkdir()
    (sftp_root / "sitc" / "Stock-SITC.csv").write_bytes(b"yesterday")
    with SftpServer(sftp_root) as server:
        settings = make_settings(tmp_path, sitc={"protocol": "SFTP", "host": "127.0.0.1", "port": server.port,
                                                 "username": server.user, "password": server.password,
                                                 "directory": "/sitc"})
        sandbox = sandbox_with(sitc_feed(delimiter="SEMI_COLON", escape_method="ESCAPED", show_headers=False))
        result, row, _ = run(settings, sandbox)
        assert result.status == "delivered", result.error
        data = server.files("sitc")["Stock-SITC.csv"]
        assert data == expected_bytes(settings, sandbox)
        assert data.startswith(b"sku,name,stock,price,vendor\r\n")  # SITC's fixed format
        assert row["destination"] == f"SITC sftp://feeder@127.0.0.1:{server.port}/sitc/Stock-SITC.csv"


def test_sitc_over_ftps(tmp_path, ftp_root, certs):
    with FtpServer(ftp_root, tls=True, certificates=certs) as server:
        settings = make_settings(tmp_path, ftps={"ca_file": str(certs.ca_file)},
                                 sitc={"protocol": "FTPS", "host": "127.0.0.1", "port": server.port,
                                       "username": server.user, "password": server.password, "directory": "/"})
        sandbox = sandbox_with(sitc_feed())
        result, _, _ = run(settings, sandbox)
        assert result.status == "delivered", result.error
        assert server.files() == {"Stock-SITC.csv": expected_bytes(settings, sandbox)}


def test_sitc_without_confirmation_is_not_delivered(tmp_path, sftp_root):
    with SftpServer(sftp_root) as server:
        settings = make_settings(tmp_path, sitc={"host": "127.0.0.1", "port": server.port,
                                                 "username": server.user, "password": server.password})
        result, _, attempts = run(settings, sandbox_with(sitc_feed(sitc_confirm=False)))
        assert result.status == "failed" and "sitc_confirm: must be true" in result.error
        assert attempts == [] and server.logins == []
    unconfirmed = FeedConfig.model_validate(sitc_feed(sitc_confirm=None))
    with pytest.raises(ConfigError, match="has not agreed"):
        sitc.METHOD.target(unconfirmed, settings)


# --- EMAIL ----------------------------------------------------------------------------------------


def smtp_settings(tmp_path, server, certs, **extra):
    values = {"host": "127.0.0.1", "port": server.port, "security": "starttls", "username": "mailer",
              "password": "smtp-pass-456", "sender": "feeds@distributor.example", "ca_file": str(certs.ca_file)}
    values.update(extra)
    return make_settings(tmp_path, smtp=values)


def parsed(mail) -> email.message.EmailMessage:
    return email.message_from_bytes(mail.data, policy=email.policy.default)


def test_email_with_starttls_and_login_carries_the_exact_file(tmp_path, certs):
    with SmtpServer(certs, username="mailer", password="smtp-pass-456") as server:
        settings = smtp_settings(tmp_path, server, certs)
        sandbox = sandbox_with(email_feed(name="Reseller stock"))
        result, row, _ = run(settings, sandbox)
        assert result.status == "delivered", result.error
        (mail,) = server.mails
        assert mail.rcpt_tos == ["reseller@example.com"] and mail.mail_from == "feeds@distributor.example"
        assert server.logins == [("mailer", True)]
        message = parsed(mail)
        assert message["To"] == "reseller@example.com" and message["From"] == "feeds@distributor.example"
        assert "Reseller stock" in message["Subject"]
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_content_type() == "text/csv"
        assert attachment.get_param("charset") == "utf-8"
        assert attachment.get_filename() == result.filename
        assert attachment.get_payload(decode=True) == expected_bytes(settings, sandbox) == archived(row)
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert f"Rows:     {result.rows}" in text and "Reseller stock" in html
        assert "sku, name, stock, price, vendor" in text
        assert row["destination"] == "email to reseller@example.com"


@pytest.mark.parametrize("zipped", [False, True])
@pytest.mark.parametrize("linesep, utf8", [("\n", False), ("\r\n", False), ("\r\n", True)])
def test_a_large_attachment_is_written_byte_for_byte_as_the_email_package_writes_it(tmp_path, monkeypatch, zipped,
                                                                                    linesep, utf8):
    import random
    from datetime import datetime, timezone

    from feeds.deliver import email as method
    from feeds.deliver.base import Job

    data = "".join(f"SKU-{n},Name {hashlib.sha256(bytes(n)).hexdigest()} \u00e9 \"q\",{n % 7},{n}.99\r\n"
                   for n in range(6000)).encode()  # hashes: the zip stays large too
    path = tmp_path / "stock.csv"
    path.write_bytes(data)
    job = Job(FeedConfig.model_validate(email_feed(id=1)), path, "stock.csv", len(data), "0" * 64, 6000,
              datetime(2026, 12, 3, 9, 30, tzinfo=timezone.utc), 7)
    monkeypatch.setattr(method, "make_msgid", lambda domain=None: "<fixed@distributor.example>")
    limit = 1000 if zipped else 10 * 1024 * 1024
    fast = method.build_message(job, "feeds@distributor.example", limit)
    assert isinstance(fast, method.Mail)
    random.seed(22)  # the MIME boundary is random
    spliced = fast.as_bytes(linesep, utf8=utf8)
    monkeypatch.setattr(method, "_SPLICED_FROM", 1 << 40)
    monkeypatch.setattr(method.uuid, "uuid4", lambda: (_ for _ in ()).throw(AssertionError("no stand-in")))
    plain = method.build_message(job, "feeds@distributor.example", limit)
    random.seed(22)
    assert spliced == plain.as_bytes(policy=plain.policy.clone(linesep=linesep, utf8=utf8))
    assert len(spliced) > len(data) if not zipped else len(spliced) < len(data)


def test_a_large_attachment_reaches_a_real_mail_server_intact(tmp_path, certs):
    from feeds.hub.sandbox import Catalogue

    with SmtpServer(certs, username="mailer", password="smtp-pass-456") as server:
        settings = smtp_settings(tmp_path, server, certs)
        sandbox = sandbox_with(email_feed(name="Large"), catalogue=Catalogue(count=3000, seed=5))
        result, row, _ = run(settings, sandbox)
        assert result.status == "delivered", result.error
        assert result.bytes > 64 * 1024  # large enough to be put in place as one base64 text
        (mail,) = server.mails
        (attachment,) = list(parsed(mail).iter_attachments())
        assert attachment.get_payload(decode=True) == expected_bytes(settings, sandbox) == archived(row)
        assert all(len(line) <= 78 for line in mail.data.split(b"\r\n"))


def test_email_with_implicit_tls(tmp_path, certs):
    with SmtpServer(certs, security="ssl") as server:
        settings = smtp_settings(tmp_path, server, certs, security="ssl", username="")
        result, _, _ = run(settings, sandbox_with(email_feed()))
        assert result.status == "delivered", result.error and len(server.mails) == 1


def test_email_plain_without_login(tmp_path, certs):
    with SmtpServer(None, security="none") as server:
        settings = smtp_settings(tmp_path, server, certs, security="none", username="")
        result, _, _ = run(settings, sandbox_with(email_feed()))
        assert result.status == "delivered" and len(server.mails) == 1


def test_a_large_file_is_attached_zipped(tmp_path, certs):
    with SmtpServer(certs, username="mailer", password="smtp-pass-456") as server:
        settings = smtp_settings(tmp_path, server, certs, max_attachment_mb=0.001)
        sandbox = sandbox_with(email_feed())
        result, _, _ = run(settings, sandbox)
        assert result.status == "delivered", result.error
        (attachment,) = list(parsed(server.mails[0]).iter_attachments())
        assert attachment.get_content_type() == "application/zip"
        assert attachment.get_filename() == result.filename + ".zip"
        with zipfile.ZipFile(io.BytesIO(attachment.get_payload(decode=True))) as archive:
            assert archive.namelist() == [result.filename]
            assert archive.read(result.filename) == expected_bytes(settings, sandbox)


def test_smtp_421_then_success(tmp_path, certs):
    with SmtpServer(certs, username="mailer", password="smtp-pass-456") as server:
        server.data_replies = ["421 4.3.2 Service shutting down, try later"]
        result, _, attempts = run(smtp_settings(tmp_path, server, certs), sandbox_with(email_feed()))
        assert result.status == "delivered", result.error
        assert len(attempts) == 2 and "421" in attempts[0]["error"] and len(server.mails) == 1


def test_smtp_greylisting_451_then_accepted(tmp_path, certs):
    with SmtpServer(certs, username="mailer", password="smtp-pass-456") as server:
        server.rcpt_replies = ["451 4.7.1 Greylisted, come back later"]
        result, _, attempts = run(smtp_settings(tmp_path, server, certs), sandbox_with(email_feed()))
        assert result.status == "delivered" and len(attempts) == 2 and len(server.mails) == 1


def test_smtp_550_is_not_retried(tmp_path, certs):
    with SmtpServer(certs, username="mailer", password="smtp-pass-456") as server:
        server.rcpt_replies = ["550 5.1.1 No such user here"] * 3
        result, _, attempts = run(smtp_settings(tmp_path, server, certs), sandbox_with(email_feed()))
        assert result.status == "failed" and "550" in result.error and "refused the address" in result.error
        assert len(attempts) == 1 and server.mails == []


def test_smtp_wrong_password_is_not_retried(tmp_path, certs):
    with SmtpServer(certs, username="mailer", password="smtp-pass-456") as server:
        settings = smtp_settings(tmp_path, server, certs, password="wrong-smtp-pw-3")
        result, _, attempts = run(settings, sandbox_with(email_feed()))
        assert result.status == "failed" and "refused the login" in result.error and len(attempts) == 1
        assert "wrong-smtp-pw-3" not in result.error


def test_smtp_wrong_certificate_is_refused(tmp_path, certs):
    with SmtpServer(certs, username="mailer", password="smtp-pass-456", wrong_certificate=True) as server:
        result, _, attempts = run(smtp_settings(tmp_path, server, certs), sandbox_with(email_feed()))
        assert result.status == "failed" and "certificate" in result.error and len(attempts) == 1
        assert server.logins == []


def test_smtp_server_down_is_retried(tmp_path, certs):
    from servers import free_port

    class Down:
        port = free_port()

    result, _, attempts = run(smtp_settings(tmp_path, Down, certs), sandbox_with(email_feed()))
    assert result.status == "failed" and len(attempts) == 3 and "connection refused" in result.error
