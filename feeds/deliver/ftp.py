"""The FTP method: upload to the reseller's own server over FTP, FTPS or SFTP.

The feed names the server (``delivery_server``, ``delivery_port``), the
protocol (Hub spells the field ``delivery_procotol``), the login and the
folder. The file is uploaded under a temporary name and renamed into place
(``protocols/``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, AliasChoices, Field, SecretStr

from .. import rules
from ..errors import ConfigError
from .base import Target
from .method import FeedField, Finding, Own
from .protocols import Protocol, ServerFolder, default_port
from .upload import UploadMethod

if TYPE_CHECKING:
    from ..config import FeedConfig


class FtpMethod(UploadMethod):
    name = "FTP"
    fields = {
        "delivery_protocol": FeedField(
            Protocol | None,
            Field(None, validation_alias=AliasChoices("delivery_procotol", "delivery_protocol"),
                  serialization_alias="delivery_procotol",
                  description="For FTP delivery. Hub spells the field delivery_procotol."),
            "FTP, FTPS or SFTP",
        ),
        "delivery_server": FeedField(
            Annotated[str | None, AfterValidator(rules.host_name)],
            Field(None, max_length=253, description="A host name or IP address only."),
            "a host name such as ftp.example.com",
        ),
        "delivery_port": FeedField(
            int | None, Field(None, ge=1, le=65535, description="Default 21 (FTP, FTPS) or 22 (SFTP)."),
        ),
        "delivery_user": FeedField(
            Annotated[str | None, AfterValidator(rules.user_name)],
            Field(None, min_length=1, max_length=255),
            "the user name to log in with",
        ),
        "delivery_password": FeedField(
            Annotated[SecretStr | None, AfterValidator(rules.password)],
            Field(None, max_length=1024, description="A secret, never printed."),
            "the password to log in with",
        ),
        "delivery_path": FeedField(
            Annotated[str | None, AfterValidator(rules.folder)],
            Field(None, max_length=1024, description="Remote directory for FTP delivery."),
        ),
    }
    required = ("delivery_protocol", "delivery_server", "delivery_user", "delivery_password")
    natural_values = {
        # an SFTP server is an FTP feed with its protocol: people write the protocol as the method
        "delivery_method": {protocol.lower(): ("FTP", f' with "delivery_procotol": "{protocol}"')
                            for protocol in ("FTPS", "SFTP")},
        "delivery_protocol": {"ssh": ("SFTP", ""), "scp": ("SFTP", ""), "ftpes": ("FTPS", ""),
                              "ftpovertls": ("FTPS", ""), "ftpoverssl": ("FTPS", "")},
    }

    def check(self, raw: Mapping[str, Any], feed: FeedConfig | None) -> tuple[list[Finding], list[Finding]]:
        warnings: list[Finding] = []
        if feed is not None and feed.delivery_port is not None and feed.delivery_protocol:
            usual = default_port(feed.delivery_protocol)
            if feed.delivery_port in (21, 22) and feed.delivery_port != usual:
                other = "SFTP" if usual == 21 else "FTP"
                warnings.append(("delivery_port", f"is {feed.delivery_port}, the usual port of {other}, but "
                                 f"delivery_procotol is {feed.delivery_protocol} (usually port {usual})"))
        return [], warnings

    def port(self, feed: FeedConfig) -> int | None:
        return feed.delivery_port if feed.delivery_port is not None else default_port(feed.delivery_protocol)

    def destination(self, raw: Mapping[str, Any]) -> str:
        protocol = str(raw.get("delivery_procotol") or raw.get("delivery_protocol") or "FTP").lower()
        port = f":{raw['delivery_port']}" if raw.get("delivery_port") else ""
        path = raw.get("delivery_path") or ""
        return f"{protocol}://{raw.get('delivery_user') or ''}@{raw.get('delivery_server') or ''}{port}{path}"

    def target(self, feed: FeedConfig, own: Own) -> Target:
        port = self.port(feed)
        if not (feed.delivery_protocol and feed.delivery_server and port):
            raise ConfigError(f"{feed.label()}: an {self.name} feed needs delivery_procotol and delivery_server")
        return Target(self, ServerFolder(
            protocol=feed.delivery_protocol,
            host=feed.delivery_server,
            port=port,
            user=feed.delivery_user or "",
            password=feed.delivery_password or SecretStr(""),
            directory=feed.delivery_path or "",
            organisation_owned=True,
        ))


METHOD = FtpMethod()
