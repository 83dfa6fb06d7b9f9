"""SFTP delivery (paramiko): password login, host-key policies, atomic upload.

Host keys (SPEC §4): ``tofu`` remembers the first key seen for host:port in
the state database and refuses a different one later, naming both
fingerprints; ``strict`` needs the key in the configured known_hosts file;
``insecure`` accepts anything and says so on every use.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import io
import logging
import os
import posixpath
import socket
import uuid
from typing import TYPE_CHECKING, Any, Literal

from ... import redact
from ...errors import Cancelled, DeliveryError
from ...sections import LocalPath, Section
from .. import limits
from .server import ServerFolder
from ..base import PROBE, Context, Job, before_publishing, classify_os_error, probe_names, write_rename_delete

if TYPE_CHECKING:  # paramiko is imported on use: it takes 0.3 s, and a mail or FTP run never needs it
    import paramiko

log = logging.getLogger("feeds.deliver.sftp")


class SftpSettings(Section):
    """``[sftp]``: how SFTP host keys are checked (SPEC §4)."""

    host_key_policy: Literal["tofu", "strict", "insecure"] = "tofu"
    known_hosts: LocalPath = "~/.ssh/known_hosts"


def prepare() -> None:
    """paramiko loaded (0.15 s): by a worker at its start, or by a run while it reads the catalogue."""
    importlib.import_module("paramiko")


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint of a host key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def check_host_key(key: paramiko.PKey, server: ServerFolder, context: Context, section: SftpSettings) -> None:
    """Apply the configured host-key policy; raise a permanent DeliveryError on refusal."""
    import paramiko  # lazy: see the import at the top

    policy = section.host_key_policy
    seen = fingerprint(key)
    where = f"{server.host}:{server.port}"
    if policy == "insecure":
        log.warning("SFTP host key of %s accepted without checking (sftp.host_key_policy = insecure): %s", where, seen)
        return
    if policy == "strict":
        path = os.path.expanduser(section.known_hosts)
        try:
            known = paramiko.HostKeys(path)
        except OSError as exc:
            raise DeliveryError(f"SFTP to {where}: known_hosts file {path} cannot be read ({exc.strerror}); "
                                "sftp.host_key_policy = strict needs it") from None
        entries = known.lookup(_known_hosts_name(server.host, server.port)) or {}
        if not entries:
            raise DeliveryError(
                f"SFTP to {where}: its host key ({seen}) is not in {path} and sftp.host_key_policy is strict; "
                f"add it (ssh-keyscan -p {server.port} {server.host} >> {path}) after checking the fingerprint"
            )
        expected = entries.get(key.get_name())
        if expected is None or expected.asbytes() != key.asbytes():
            stored = fingerprint(expected) if expected else ", ".join(fingerprint(k) for k in entries.values())
            raise DeliveryError(
                f"SFTP to {where}: the host key changed: known_hosts has {stored}, the server sent {seen}; "
                "refusing to send (check with the server's owner, then update known_hosts)",
                reason="host key changed",
            )
        return
    store = context.host_keys
    if store is None:
        raise DeliveryError("SFTP host key policy tofu needs the state database; none is open")
    stored = store.get(server.host, server.port)
    if stored is None:
        store.remember(server.host, server.port, key.get_name(), key.get_base64(), seen)
        log.warning("SFTP host key of %s seen for the first time and remembered: %s", where, seen)
        return
    key_type, key_base64, stored_fingerprint = stored
    if key_type != key.get_name() or key_base64 != key.get_base64():
        raise DeliveryError(
            f"SFTP to {where}: the host key changed: first seen {stored_fingerprint}, now {seen}; "
            f"refusing to send (if the change is expected, run: feeds forget-host-key {server.host} --port {server.port})",
            reason="host key changed",
        )


def _error(exc: BaseException, what: str, server: ServerFolder) -> DeliveryError:
    """The error a failed SFTP step is; the server's text in it with the target's password masked (SPEC §11)."""
    import paramiko  # lazy: see the import at the top

    if isinstance(exc, (DeliveryError, Cancelled)):
        return exc  # type: ignore[return-value]
    if isinstance(exc, paramiko.AuthenticationException):
        return DeliveryError(f"{what}: the server refused the login; check the user name and password",
                             reason="login refused")
    if isinstance(exc, paramiko.SSHException):
        return DeliveryError(f"{what}: {_echoed(exc, server) or 'SSH failed'}", transient=True)
    if isinstance(exc, PermissionError) or (isinstance(exc, OSError) and exc.errno in (13, 1)):
        return DeliveryError(f"{what}: permission denied on the server", reason="folder not writable")
    if isinstance(exc, FileNotFoundError) or (isinstance(exc, OSError) and exc.errno == 2):
        return DeliveryError(f"{what}: no such file or folder on the server")
    if isinstance(exc, OSError) and not isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)) and exc.errno is None:
        # SFTP status errors carry no errno: "Failure" is what a full disk looks like.
        return DeliveryError(f"{what}: the server failed ({_echoed(exc, server)})", transient=True)
    return classify_os_error(exc, what)


def _echoed(exc: BaseException, server: ServerFolder) -> str:
    return redact.echoed(str(exc), server.password.get_secret_value())


def send(job: Job, server: ServerFolder, where: str, context: Context, section: SftpSettings) -> str:
    """Upload ``job`` to ``server`` over SFTP (``where`` names it in messages); return ``where``."""
    return _session(server, context, section, lambda sftp: _upload(sftp, job, server, context, where))


def cleanup(server: ServerFolder, context: Context, section: SftpSettings) -> None:
    """Remove temporary files a failed last attempt left behind (a fresh, best-effort connection)."""
    if not context.leftovers:
        return

    try:
        _session(server, context, section, lambda sftp: _remove_leftovers(sftp, context))
    except Exception:
        pass


def landed(server: ServerFolder, context: Context, section: SftpSettings, temporary: str | None) -> bool:
    """Whether the upload interrupted before or during the rename of ``temporary`` made its file visible."""
    if not temporary:
        return False

    def gone(sftp: paramiko.SFTPClient) -> bool:
        try:
            sftp.stat(temporary)
        except FileNotFoundError:
            return True  # the temporary file is gone: the rename made it the final file
        except Exception as exc:
            raise _error(exc, f"looking for {temporary!r} on {server.host}") from None
        return False

    return bool(_session(server, context, section, gone))


def probe(server: ServerFolder, context: Context, section: SftpSettings) -> str:
    """Connect, check the host key, log in, write a hidden probe file, rename it, delete it; send no feed."""
    return _session(server, context, section, lambda sftp: _probe(sftp, server))


def _probe(sftp: paramiko.SFTPClient, server: ServerFolder) -> str:
    folder = server.directory or "."
    written, renamed = probe_names(lambda name: posixpath.join(folder, name))
    try:
        write_rename_delete(written, renamed, lambda name: sftp.putfo(io.BytesIO(PROBE), name, confirm=False),
                            sftp.rename, sftp.remove)
    except Exception as exc:
        raise _error(exc, f"writing a probe file in {folder} on {server.host}", server) from None
    return "logged in; wrote, renamed and deleted a probe file"


def _remove_leftovers(sftp: paramiko.SFTPClient, context: Context) -> None:
    for leftover in list(context.leftovers):
        try:
            sftp.remove(leftover)
            context.drop_leftover(leftover)
        except FileNotFoundError:
            context.drop_leftover(leftover)
        except Exception:
            pass


def _session(server: ServerFolder, context: Context, section: SftpSettings, work: Any) -> Any:
    """Connect, check the host key, log in, open SFTP, then do ``work(sftp)``."""
    import paramiko  # lazy: see the import at the top

    timeout = context.timeout
    where = f"{server.host}:{server.port}"
    address = context.address(server.host, server.port, server.organisation_owned)  # the egress rule, before any connection
    transport: paramiko.Transport | None = None
    try:
        try:
            sock = context.opened(socket.create_connection((address, server.port), timeout=timeout))
        except OSError as exc:
            raise _error(exc, f"connecting to SFTP {where}", server) from None
        capped = limits.CappedSocket(sock, f"the SSH server {where}")  # paramiko reads banners without a bound
        try:
            transport = paramiko.Transport(capped)
            transport.banner_timeout = timeout
            transport.auth_timeout = timeout
            transport.start_client(timeout=timeout)
            key = transport.get_remote_server_key()
        except Exception as exc:
            raise _error(exc, f"starting SSH with {where}", server) from None
        capped.release()
        check_host_key(key, server, context, section)
        try:
            transport.auth_password(server.user, server.password.get_secret_value())
        except Exception as exc:
            raise _error(exc, f"logging in to SFTP {where} as {server.user!r}", server) from None
        try:
            sftp = paramiko.SFTPClient.from_transport(transport)
            if sftp is None:
                raise paramiko.SSHException("the server refused the SFTP subsystem")
            sftp.get_channel().settimeout(timeout)
        except Exception as exc:
            raise _error(exc, f"opening SFTP on {where}", server) from None
        return work(sftp)
    finally:
        if transport is not None:
            transport.close()


def _upload(sftp: paramiko.SFTPClient, job: Job, server: ServerFolder, context: Context, where: str) -> str:
    folder = server.directory or "."
    temporary = posixpath.join(folder, f".feeds-{uuid.uuid4().hex[:16]}.part")
    final = posixpath.join(folder, job.filename)
    _remove_leftovers(sftp, context)
    context.check_cancel()

    def progress(sent: int, total: int) -> None:
        context.check_cancel()

    context.add_leftover(temporary)
    try:
        try:
            with job.path.open("rb") as handle:
                sftp.putfo(handle, temporary, file_size=job.size, callback=progress, confirm=False)
            size = sftp.stat(temporary).st_size
        except Exception as exc:
            raise _error(exc, f"uploading to {where}", server) from None
        before_publishing(size, job, where, context)
        context.publish(temporary)
        try:
            _rename_over(sftp, temporary, final)
        except Exception as exc:
            raise _error(exc, f"renaming the upload to {job.filename!r} on {server.host}", server) from None
        context.drop_leftover(temporary)
        return where
    except BaseException:
        try:
            sftp.remove(temporary)
            context.drop_leftover(temporary)
        except Exception:
            pass
        raise


def _rename_over(sftp: paramiko.SFTPClient, source: str, final: str) -> None:
    """Rename, replacing ``final``: atomically where the server offers posix-rename."""
    try:
        sftp.posix_rename(source, final)
        return
    except OSError:
        pass  # the extension is missing: plain SFTP rename refuses to replace
    try:
        sftp.rename(source, final)
    except OSError:
        try:
            sftp.remove(final)
        except FileNotFoundError:
            pass
        sftp.rename(source, final)
