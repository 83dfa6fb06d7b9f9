"""Real servers on 127.0.0.1 for delivery tests: SMTP (aiosmtpd), FTP/FTPS (pyftpdlib), SFTP (asyncssh).

Each keeps what it received where the test can read it back, and can be told
to misbehave: refuse, greylist, drop the connection halfway through an upload,
run out of disk, stall.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import DTPHandler, FTPHandler, TLS_DTPHandler, TLS_FTPHandler
from pyftpdlib.servers import ThreadedFTPServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- certificates -------------------------------------------------------------------


@dataclass
class Certificates:
    """A test CA, a server certificate for 127.0.0.1, and one for another name."""

    folder: Path

    def __post_init__(self) -> None:
        self.ca = trustme.CA()
        self.ca_file = self.folder / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.good = self.folder / "server.pem"
        self.ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(self.good))
        self.wrong = self.folder / "wrong.pem"
        self.ca.issue_cert("wrong.example").private_key_and_cert_chain_pem.write_to_path(str(self.wrong))

    def server_context(self, wrong: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        path = str(self.wrong if wrong else self.good)
        context.load_cert_chain(path, path)
        return context


# --- SMTP ---------------------------------------------------------------------------------


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


class _SmtpHandler:
    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.server.rcpt_replies:
            return self.server.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.server.data_replies:
            return self.server.data_replies.pop(0)
        self.server.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on 127.0.0.1: STARTTLS or implicit TLS or plain, optional AUTH."""

    def __init__(self, certificates: Certificates | None = None, *, security: str = "starttls",
                 username: str = "", password: str = "", wrong_certificate: bool = False):
        self.mails: list[Mail] = []
        self.rcpt_replies: list[str] = []
        self.data_replies: list[str] = []
        self.logins: list[tuple[str, bool]] = []
        self.port = free_port()
        self.username, self.password = username, password
        kwargs: dict[str, Any] = {}
        if username:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=security != "none")
        if security == "starttls":
            kwargs.update(tls_context=certificates.server_context(wrong_certificate), require_starttls=True)
        elif security == "ssl":
            kwargs.update(ssl_context=certificates.server_context(wrong_certificate))
        self.controller = Controller(_SmtpHandler(self), hostname="127.0.0.1", port=self.port, **kwargs)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == self.username \
            and auth_data.password.decode() == self.password
        self.logins.append((auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?", ok))
        return AuthResult(success=ok, handled=False)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# --- FTP and FTPS ---------------------------------------------------------------------------


@dataclass
class FtpFaults:
    drop_after: int | None = None      # bytes of an upload after which the connection drops
    drops: int = 1                     # how many uploads are cut
    disk_full: int = 0                 # how many uploads fail with ENOSPC
    stall: float = 0.0                 # seconds each data read sleeps (a slow server)
    refuse_rename_over: bool = False   # RNTO refuses to replace an existing file (IIS)


class _FullFile:
    def __init__(self, inner: Any):
        self.inner = inner

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _faulty_dtp(base: type, faults: FtpFaults) -> type:
    class FaultyDTP(base):  # type: ignore[valid-type, misc]
        def handle_read(self) -> None:
            if faults.stall:
                time.sleep(faults.stall)
            if self.receive and faults.disk_full and not isinstance(self.file_obj, _FullFile):
                faults.disk_full -= 1
                self.file_obj = _FullFile(self.file_obj)
            if self.receive and faults.drop_after is not None and faults.drops > 0:
                try:
                    chunk = self.recv(self.ac_in_buffer_size)
                except Exception:
                    return super().handle_read()
                keep = max(0, faults.drop_after - self.tot_bytes_received)
                self.tot_bytes_received += len(chunk)
                if chunk[:keep]:
                    self.file_obj.write(chunk[:keep])
                if self.tot_bytes_received >= faults.drop_after:
                    # The network goes away: data and control connections both drop.
                    faults.drops -= 1
                    cmd = self.cmd_channel
                    self.file_obj.close()
                    self.close()
                    cmd.close()
                return None
            return super().handle_read()

    if base.handle_read_event is base.handle_read:
        # DTPHandler aliases the method it defines; TLS_DTPHandler's event does the TLS part first.
        FaultyDTP.handle_read_event = FaultyDTP.handle_read
    return FaultyDTP


class FtpServer:
    """pyftpdlib on 127.0.0.1 serving ``root``; FTPS with explicit TLS and PROT P required."""

    def __init__(self, root: Path, *, user: str = "feeder", password: str = "ftp-pass-123", tls: bool = False,
                 certificates: Certificates | None = None, wrong_certificate: bool = False, perm: str = "elradfmwMT",
                 other_users: dict[str, str] | None = None, echo_refused_password: bool = False):
        """``other_users`` (name -> password) share ``root``; ``echo_refused_password`` makes the server
        repeat a refused password in its 530 reply, as careless servers do."""
        self.root = root
        self.user, self.password = user, password
        self.faults = FtpFaults()
        authorizer = DummyAuthorizer()
        authorizer.add_user(user, password, str(root), perm=perm)
        for name, secret in (other_users or {}).items():
            authorizer.add_user(name, secret, str(root), perm=perm)
        base_handler = TLS_FTPHandler if tls else FTPHandler
        base_dtp = TLS_DTPHandler if tls else DTPHandler
        faults = self.faults
        self.commands: list[str] = []
        commands = self.commands
        #: every name a file was stored or renamed under
        self.names: list[str] = []
        names = self.names
        #: every login tried: (user, whether the password was right)
        self.logins: list[tuple[str, bool]] = []
        logins = self.logins

        class Handler(base_handler):  # type: ignore[valid-type, misc]
            def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
                commands.append(cmd)
                if cmd in ("STOR", "RNTO"):
                    names.append(arg)
                if cmd == "PASS" and self.username:
                    right = authorizer.has_user(self.username) and authorizer.user_table[self.username]["pwd"] == arg
                    logins.append((self.username, right))
                    if not right and echo_refused_password:
                        self.respond(f"530 Login incorrect: user {self.username} password {arg}.")
                        self.username = ""
                        return
                if cmd == "RNTO" and faults.refuse_rename_over and arg and (Path(self.fs.ftp2fs(arg))).exists():
                    self.respond("550 Cannot rename over an existing file.")
                    return
                super().pre_process_command(line, cmd, arg)

        Handler.authorizer = authorizer
        Handler.dtp_handler = _faulty_dtp(base_dtp, faults)
        Handler.banner = "feeds test FTP server"
        if tls:
            assert certificates is not None
            path = str(certificates.wrong if wrong_certificate else certificates.good)
            Handler.certfile = path
            Handler.keyfile = path
            Handler.tls_control_required = True
            Handler.tls_data_required = True
        self.server = ThreadedFTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"timeout": 0.05, "blocking": True, "handle_exit": False}, daemon=True)

    def files(self, folder: str = "") -> dict[str, bytes]:
        base = self.root / folder
        return {p.name: p.read_bytes() for p in base.iterdir() if p.is_file()} if base.exists() else {}

    def __enter__(self) -> FtpServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close_all()
        self.thread.join(timeout=5)


# --- SFTP --------------------------------------------------------------------------------------


@dataclass
class SftpFaults:
    drop_after: int | None = None
    drops: int = 1
    deny_writes: bool = False
    disk_full: int = 0


class SftpServer:
    """asyncssh on 127.0.0.1 with password login, serving ``root`` (chroot)."""

    def __init__(self, root: Path, *, user: str = "feeder", password: str = "sftp-pass-123",
                 host_key: asyncssh.SSHKey | None = None, port: int | None = None, posix_rename: bool = True):
        self.root = root
        self.user, self.password = user, password
        self.host_key = host_key or asyncssh.generate_private_key("ssh-ed25519")
        self.port = port or free_port()
        self.faults = SftpFaults()
        self.logins: list[tuple[str, bool]] = []
        #: every path a file was opened for writing or renamed to
        self.names: list[str] = []
        self.posix_rename = posix_rename
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.acceptor: Any = None

    def _server_class(self) -> type:
        outer = self

        class Server(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                ok = username == outer.user and password == outer.password
                outer.logins.append((username, ok))
                return ok

        return Server

    def _sftp_factory(self, chan: Any) -> asyncssh.SFTPServer:
        faults = self.faults
        posix_rename = self.posix_rename
        names = self.names

        class Faulty(asyncssh.SFTPServer):
            received = 0

            def open(self, path: bytes, pflags: int, attrs: Any) -> Any:
                if pflags & asyncssh.FXF_WRITE:
                    names.append(path.decode())
                if faults.deny_writes and pflags & asyncssh.FXF_WRITE:
                    raise asyncssh.SFTPError(asyncssh.FX_PERMISSION_DENIED, "Permission denied")
                return super().open(path, pflags, attrs)

            def write(self, file_obj: Any, offset: int, data: bytes) -> Any:
                if faults.disk_full:
                    faults.disk_full -= 1
                    raise asyncssh.SFTPError(asyncssh.FX_FAILURE, "No space left on device")
                result = super().write(file_obj, offset, data)
                Faulty.received += len(data)
                if faults.drop_after is not None and faults.drops > 0 and Faulty.received >= faults.drop_after:
                    faults.drops -= 1
                    self._chan.get_connection().abort()
                return result

            def rename(self, oldpath: bytes, newpath: bytes) -> Any:
                names.append(newpath.decode())
                return super().rename(oldpath, newpath)

            def posix_rename(self, oldpath: bytes, newpath: bytes) -> Any:
                names.append(newpath.decode())
                if not posix_rename:
                    raise asyncssh.SFTPOpUnsupported("posix-rename not supported")
                return super().posix_rename(oldpath, newpath)

        return Faulty(chan, chroot=str(self.root).encode())

    def __enter__(self) -> SftpServer:
        self.thread.start()
        async def start() -> Any:
            return await asyncssh.create_server(
                self._server_class(), "127.0.0.1", self.port, server_host_keys=[self.host_key],
                sftp_factory=self._sftp_factory, allow_scp=False,
            )

        future = asyncio.run_coroutine_threadsafe(start(), self.loop)
        self.acceptor = future.result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self.acceptor.close()
            await self.acceptor.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    def files(self, folder: str = "") -> dict[str, bytes]:
        base = self.root / folder
        return {p.name: p.read_bytes() for p in base.iterdir() if p.is_file()} if base.exists() else {}
