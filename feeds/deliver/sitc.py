"""Stock In The Channel: one upload target for every SITC feed, set in the settings.

The file goes under the feed's ``sitc_filename`` with FTP, FTPS or SFTP
(``[sitc]``), in SITC's fixed format, and only when the organisation has
confirmed it agrees to share its stock and prices (``sitc_confirm: true``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field, SecretStr

from .. import rules
from ..errors import ConfigError, SettingsError
from ..sections import Section
from .base import Target
from .method import FeedField, Finding, Own
from .protocols import Protocol, ServerFolder
from .upload import UploadMethod

if TYPE_CHECKING:
    from ..config import FeedConfig

_CONFIRM = ("the organisation agrees to share its stock and prices with Stock In The Channel")


class SitcSettings(Section):
    """``[sitc]``: the upload target of every SITC feed."""

    protocol: Protocol = "SFTP"
    host: str = ""
    port: int = Field(22, ge=1, le=65535)
    username: str = ""
    password: SecretStr = SecretStr("")
    directory: str = "/"


class SitcMethod(UploadMethod):
    name = "SITC"
    label_prefix = "SITC "
    fields = {
        "sitc_filename": FeedField(
            Annotated[str | None, AfterValidator(rules.plain_filename)],
            Field(None, max_length=255, description="The file name on Stock In The Channel."),
            "the file name, such as Stock.csv",
        ),
        "sitc_confirm": FeedField(
            bool | None,
            Field(None, description=f"Must be true: {_CONFIRM}."),
            f"true, to confirm {_CONFIRM}",
        ),
    }
    required = ("sitc_filename", "sitc_confirm")
    natural_values = {"delivery_method": {"stockinthechannel": ("SITC", "")}}
    fixed_format = {"delimiter": "COMMA", "escape_method": "QUOTED", "show_headers": True}
    uses_filename_pattern = False
    settings_sections = {**UploadMethod.settings_sections, "sitc": SitcSettings}
    schema_then = {"properties": {"sitc_confirm": {"const": True}}}

    def check(self, raw: Mapping[str, Any], feed: FeedConfig | None) -> tuple[list[Finding], list[Finding]]:
        if raw.get("sitc_confirm") is False:
            return [("sitc_confirm", "must be true: a SITC feed is only delivered once the organisation confirms "
                                     "it agrees to share its stock and prices with Stock In The Channel")], []
        return [], []

    def file_name(self, feed: FeedConfig, when: datetime) -> str:
        return feed.sitc_filename or ""

    def file_name_field(self) -> str:
        return "sitc_filename"

    def shared_name(self, feed: FeedConfig) -> str | None:
        return feed.sitc_filename

    def destination(self, raw: Mapping[str, Any]) -> str:
        return f"SITC {raw.get('sitc_filename') or ''}"

    def target(self, feed: FeedConfig, own: Own) -> Target:
        if feed.sitc_confirm is not True:
            raise ConfigError(
                f"{feed.label()}: sitc_confirm is not true, so the organisation has not agreed to share its stock "
                "and prices with Stock In The Channel; nothing was sent"
            )
        sitc: SitcSettings = own.sitc
        if not sitc.host:
            raise SettingsError("sitc.host is empty: set the Stock In The Channel upload target in [sitc]")
        return Target(self, ServerFolder(protocol=sitc.protocol, host=sitc.host, port=sitc.port, user=sitc.username,
                                         password=sitc.password, directory=sitc.directory))


METHOD = SitcMethod()
