"""FTP and FTPS delivery (ftplib): passive mode, explicit TLS, atomic upload.

The file is stored under a temporary name in the server folder, its size is
checked with SIZE, then it is renamed over the final name (SPEC §4). A reader
never sees a partial file under the final name; a failed upload's temporary
file is deleted on the spot when the connection still works, or by the next
attempt when it does not.
"""

from __future__ import annotations

import ftplib
import io
import logging
import uuid
from typing import Any

from ... import redact
from ...errors import Cancelled, DeliveryError
from ...sections import LocalPath, Section
from .. import limits
from .server import ServerFolder
from ..base import (PROBE, Context, Job, before_publishing, classify_os_error, probe_names, tls_context,
                    write_rename_delete)

log = logging.getLogger("feeds.deliver.ftp")
BLOCK = 64 * 1024


class FtpsSettings(Section):
    """``[ftps]``: how FTPS servers' certificates are checked."""

    verify: bool = True
    ca_file: LocalPath = ""


class BoundedFTP(ftplib.FTP):
    """ftplib's FTP with bounds a hostile server cannot lift (SPEC §11).

    - Each reply is read with a cap of ``limits.REPLY_CAP`` (ftplib caps a line,
      not a multi-line reply: a greeting that never ends would grow forever).
    - Data connections go to the control connection's peer, the address the
      egress rule checked, never to a second lookup of the name.
    - ``shutdown()`` cuts the control and data connections from another
      thread (the run's deadline).
    """

    _data: Any = None

    def connect(self, host: str = "", port: int = 0, timeout: float = -999, source_address: Any = None) -> str:
        self._budget = limits.ReplyBudget(f"the FTP server {host}:{port}")
        return super().connect(host, port, timeout, source_address)

    def getresp(self) -> str:
        self._budget.reset()
        return super().getresp()

    def getline(self) -> str:
        line = super().getline()
        self._budget.spend(line)
        return line

    def makepasv(self) -> tuple[str, int]:
        _, port = super().makepasv()
        return self.sock.getpeername()[0], port  # type: ignore[union-attr]

    def ntransfercmd(self, cmd: str, rest: Any = None) -> tuple[Any, Any]:
        conn, size = super().ntransfercmd(cmd, rest)
        self._data = conn
        return conn, size

    def shutdown(self, how: int = 2) -> None:
        for connection in (self._data, self.sock):
            if connection is not None:
                limits.shut(connection)


class ReusingFTP_TLS(BoundedFTP, ftplib.FTP_TLS):
    """FTP_TLS that reuses the control channel's TLS session for data channels.

    Many servers (vsftpd's require_ssl_reuse, FileZilla Server) refuse a data
    connection that starts a new TLS session; ftplib does not reuse it.
    """

    def ntransfercmd(self, cmd: str, rest: Any = None) -> tuple[Any, Any]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)  # type: ignore[union-attr]
        self._data = conn
        return conn, size


def _error(exc: BaseException, what: str, server: ServerFolder) -> DeliveryError:
    """The error a failed FTP step is; the server's text in it with the target's password masked (SPEC §11)."""
    if isinstance(exc, DeliveryError):
        return exc
    text = redact.echoed(str(exc), server.password.get_secret_value())
    if isinstance(exc, ftplib.error_perm):
        code = text[:3]
        if code == "530":
            return DeliveryError(f"{what}: the server refused the login ({text}); check delivery_user and delivery_password",
                                 reason="login refused")
        reason = "folder not writable" if code in ("550", "553", "532") else None
        return DeliveryError(f"{what}: the server refused it ({text})", reason=reason)
    if isinstance(exc, ftplib.error_temp):
        return DeliveryError(f"{what}: the server failed for now ({text})", transient=True)
    if isinstance(exc, (ftplib.error_reply, ftplib.error_proto)):
        return DeliveryError(f"{what}: unexpected answer from the server ({text})", transient=True)
    return classify_os_error(exc, what)


def _connect(server: ServerFolder, context: Context, ftps: FtpsSettings) -> BoundedFTP:
    timeout = context.timeout
    where = f"{server.protocol} {server.host}:{server.port}"
    ftp: BoundedFTP
    address = context.address(server.host, server.port, server.organisation_owned)  # the egress rule, before any connection
    try:
        if server.protocol == "FTPS":
            ftp = ReusingFTP_TLS(context=tls_context(ftps.ca_file, ftps.verify, "FTPS", "ftps.verify"),
                                 timeout=timeout)
        else:
            ftp = BoundedFTP(timeout=timeout)
        context.opened(ftp)
        ftp.connect(address, server.port)
        ftp.host = server.host  # TLS checks the certificate against the name, not the address
    except Exception as exc:
        raise _error(exc, f"connecting to {where}", server) from None
    try:
        ftp.login(server.user, server.password.get_secret_value())  # FTP_TLS sends AUTH TLS first
        if isinstance(ftp, ftplib.FTP_TLS):
            ftp.prot_p()
        ftp.set_pasv(True)
    except Exception as exc:
        _close(ftp)
        raise _error(exc, f"logging in to {where}", server) from None
    return ftp


def _close(ftp: ftplib.FTP) -> None:
    try:
        ftp.quit()
    except Exception:
        try:
            ftp.close()
        except Exception:
            pass


def _delete_quietly(ftp: ftplib.FTP, name: str) -> bool:
    try:
        ftp.delete(name)
        return True
    except ftplib.error_perm as exc:
        return str(exc).startswith("550")  # already gone
    except Exception:
        return False


def _remove_leftovers(ftp: ftplib.FTP, context: Context) -> None:
    for leftover in list(context.leftovers):
        if _delete_quietly(ftp, leftover):
            context.drop_leftover(leftover)


def send(job: Job, server: ServerFolder, where: str, context: Context, section: FtpsSettings) -> str:
    """Upload ``job`` to ``server`` over FTP or FTPS (``where`` names it in messages); return ``where``."""
    ftp = _connect(server, context, section)
    temporary = f".feeds-{uuid.uuid4().hex[:16]}.part"
    try:
        _enter_folder(ftp, server)
        _remove_leftovers(ftp, context)
        context.check_cancel()

        def block_sent(_: bytes) -> None:
            context.check_cancel()

        try:
            context.add_leftover(temporary)
            with job.path.open("rb") as handle:
                ftp.storbinary(f"STOR {temporary}", handle, blocksize=BLOCK, callback=block_sent)
            size = ftp.size(temporary)
        except Cancelled:
            raise
        except Exception as exc:
            raise _error(exc, f"uploading to {where}", server) from None
        before_publishing(size, job, where, context)
        context.publish(temporary)
        try:
            try:
                ftp.rename(temporary, job.filename)
            except ftplib.error_perm:
                # Servers that refuse to rename over an existing file (IIS, some appliances).
                _delete_quietly(ftp, job.filename)
                ftp.rename(temporary, job.filename)
        except Exception as exc:
            raise _error(exc, f"renaming the upload to {job.filename!r} on {server.host}", server) from None
        context.drop_leftover(temporary)
        _close(ftp)
        return where
    except BaseException:
        if temporary in context.leftovers:
            if _delete_quietly(ftp, temporary):
                context.drop_leftover(temporary)
        _close(ftp)
        raise


def cleanup(server: ServerFolder, context: Context, section: FtpsSettings) -> None:
    """Remove temporary files a failed last attempt left behind (a fresh, best-effort connection)."""
    if not context.leftovers:
        return
    try:
        ftp = _connect(server, context, section)
    except DeliveryError:
        return
    try:
        if server.directory:
            ftp.cwd(server.directory)
        _remove_leftovers(ftp, context)
    except Exception:
        pass
    finally:
        _close(ftp)


def landed(server: ServerFolder, context: Context, section: FtpsSettings, temporary: str | None) -> bool:
    """Whether the upload interrupted before or during the rename of ``temporary`` made its file visible."""
    if not temporary:
        return False
    ftp = _connect(server, context, section)
    try:
        _enter_folder(ftp, server)
        ftp.voidcmd("TYPE I")  # SIZE is refused in ASCII mode by some servers
        try:
            ftp.size(temporary)
        except ftplib.error_perm as exc:
            if str(exc).startswith("550"):
                return True  # the temporary file is gone: the rename made it the final file
            raise _error(exc, f"looking for {temporary!r} on {server.host}") from None
        return False
    except DeliveryError:
        raise
    except Exception as exc:
        raise _error(exc, f"looking for {temporary!r} on {server.host}") from None
    finally:
        _close(ftp)


def probe(server: ServerFolder, context: Context, section: FtpsSettings) -> str:
    """Connect, log in, write a probe file under a hidden name, rename it, delete it; send no feed (SPEC §10)."""
    ftp = _connect(server, context, section)
    try:
        _enter_folder(ftp, server)
        written, renamed = probe_names()
        try:
            write_rename_delete(written, renamed, lambda name: ftp.storbinary(f"STOR {name}", io.BytesIO(PROBE)),
                                ftp.rename, ftp.delete)
        except Exception as exc:
            folder = server.directory or "the login folder"
            raise _error(exc, f"writing a probe file in {folder} on {server.host}", server) from None
        return "logged in; wrote, renamed and deleted a probe file"
    finally:
        _close(ftp)


def _enter_folder(ftp: ftplib.FTP, server: ServerFolder) -> None:
    try:
        if server.directory:
            ftp.cwd(server.directory)
    except Exception as exc:
        raise _error(exc, f"opening the folder {server.directory!r} on {server.host}", server) from None
