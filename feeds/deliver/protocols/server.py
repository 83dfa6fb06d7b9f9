"""The place of an upload method's target: a folder on a server, its protocol and login."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr


@dataclass(frozen=True)
class ServerFolder:
    """A folder on a server, reached with a protocol and a login."""

    protocol: str  #: FTP, FTPS or SFTP
    host: str
    port: int
    user: str
    password: SecretStr
    directory: str = ""
    #: the server comes from an organisation's configuration: the egress rule applies (SPEC §11)
    organisation_owned: bool = False
