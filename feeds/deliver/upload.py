"""What the methods that upload to a folder on a server share (FTP and SITC).

They differ in where the server comes from (the feed, or ``[sitc]``) and
which fields they own; their target's place is a ``protocols.ServerFolder``,
and sending, cleaning up, probing and describing go through its protocol
(``protocols/``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import redact
from .method import Method, Own
from .protocols import PROTOCOLS, SECTIONS, ServerFolder

if TYPE_CHECKING:
    from .base import Context, Job, Target


class UploadMethod(Method):
    """A method that uploads the file to a folder over FTP, FTPS or SFTP."""

    #: shown before the URL in descriptions, e.g. "SITC "
    label_prefix = ""
    settings_sections = dict(SECTIONS)

    def describe(self, target: Target, filename: str = "") -> str:
        server: ServerFolder = target.place
        folder = server.directory.rstrip("/") if server.directory not in ("", "/") else ""
        path = f"{folder}/{filename}" if filename else (folder or "/")
        if not path.startswith("/"):
            path = "/" + path
        return f"{self.label_prefix}{server.protocol.lower()}://{server.user}@{server.host}:{server.port}{path}"

    def manifest(self, target: Target) -> dict[str, Any]:
        server: ServerFolder = target.place
        return {"remote": {"host": server.host, "port": server.port, "user": server.user,
                           "password": redact.MASK if server.password.get_secret_value() else "",
                           "directory": server.directory or ""}}

    def prepare(self, target: Target | None = None) -> None:
        """Each protocol's (SFTP: paramiko loaded), or the target's protocol's alone."""
        protocols = [target.place.protocol] if target is not None else list(PROTOCOLS)
        for protocol in protocols:
            module = PROTOCOLS[protocol][0]
            if hasattr(module, "prepare"):
                module.prepare()

    def send(self, job: Job, target: Target, context: Context, own: Own) -> str:
        server: ServerFolder = target.place
        module, _, section = PROTOCOLS[server.protocol]
        return module.send(job, server, self.describe(target, job.filename), context, getattr(own, section))

    def cleanup(self, target: Target, context: Context, own: Own) -> None:
        server: ServerFolder = target.place
        module, _, section = PROTOCOLS[server.protocol]
        module.cleanup(server, context, getattr(own, section))

    def landed(self, target: Target, context: Context, own: Own) -> bool | None:
        """An interrupted upload landed when its temporary file is gone: only the rename removes it."""
        server: ServerFolder = target.place
        module, _, section = PROTOCOLS[server.protocol]
        return module.landed(server, context, getattr(own, section), context.publishing)

    def probe(self, target: Target, context: Context, own: Own) -> str:
        server: ServerFolder = target.place
        module, _, section = PROTOCOLS[server.protocol]
        return module.probe(server, context, getattr(own, section))
