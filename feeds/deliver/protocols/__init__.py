"""Upload protocols: FTP and FTPS (ftplib), SFTP (paramiko).

The methods that upload a file to a folder on a server (the reseller's own
server, ``ftp.py``; Stock In The Channel, ``sitc.py``) reach it through one of
these. A method describes the place as a ``ServerFolder``; each protocol
module has ``send``, ``cleanup`` and ``probe`` taking ``(…, server, context,
section)``, where ``section`` is its own settings section, and maps its
library's errors to ``DeliveryError``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Literal

from ...sections import Section
from . import ftp, sftp
from .server import ServerFolder

__all__ = ["PROTOCOLS", "SECTIONS", "Protocol", "ServerFolder", "default_port"]

Protocol = Literal["FTP", "FTPS", "SFTP"]
#: protocol -> (module, default port, the settings section the module reads)
PROTOCOLS: dict[str, tuple[ModuleType, int, str]] = {
    "FTP": (ftp, 21, "ftps"),
    "FTPS": (ftp, 21, "ftps"),
    "SFTP": (sftp, 22, "sftp"),
}
SECTIONS: dict[str, type[Section]] = {"sftp": sftp.SftpSettings, "ftps": ftp.FtpsSettings}


def default_port(protocol: str | None) -> int | None:
    entry = PROTOCOLS.get(protocol or "")
    return entry[1] if entry else None
