"""What the methods that upload to a folder on a server share (FTP and SITC).

They differ in where the server comes from (the feed, or ``[sitc]``) and
which fields they own; sending, cleaning up, probing and describing go
through the upload protocol of the target (``protocols/``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .method import Method
from .protocols import PROTOCOLS

if TYPE_CHECKING:
    from ..settings import Settings
    from .base import Context, Job, Target


class UploadMethod(Method):
    """A method that uploads the file to a folder over FTP, FTPS or SFTP."""

    #: shown before the URL in descriptions, e.g. "SITC "
    label_prefix = ""

    def describe(self, target: Target, filename: str = "") -> str:
        folder = target.directory.rstrip("/") if target.directory not in ("", "/") else ""
        path = f"{folder}/{filename}" if filename else (folder or "/")
        if not path.startswith("/"):
            path = "/" + path
        return f"{self.label_prefix}{target.protocol.lower()}://{target.user}@{target.host}:{target.port}{path}"

    def send(self, job: Job, target: Target, context: Context, settings: Settings) -> str:
        module, _, section = PROTOCOLS[target.protocol]
        return module.send(job, target, context, getattr(settings, section))

    def cleanup(self, target: Target, context: Context, settings: Settings) -> None:
        module, _, section = PROTOCOLS[target.protocol]
        module.cleanup(target, context, getattr(settings, section))

    def probe(self, target: Target, context: Context, settings: Settings) -> str:
        module, _, section = PROTOCOLS[target.protocol]
        return module.probe(target, context, getattr(settings, section))

