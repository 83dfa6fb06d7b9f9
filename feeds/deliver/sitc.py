"""Stock In The Channel: one upload target for every SITC feed, set in the settings.

The file goes under the feed's ``sitc_filename`` with FTP, FTPS or SFTP
(``[sitc]``), and only when the organisation has confirmed it agrees to share
its stock and prices (``sitc_confirm: true``).
"""

from __future__ import annotations

from typing import Any

from ..config import FeedConfig
from ..errors import ConfigError, SettingsError
from .base import Target


def target(feed: FeedConfig, settings: Any) -> Target:
    if feed.sitc_confirm is not True:
        raise ConfigError(
            f"{feed.label()}: sitc_confirm is not true, so the organisation has not agreed to share its stock "
            "and prices with Stock In The Channel; nothing was sent"
        )
    sitc = settings.sitc
    if not sitc.host:
        raise SettingsError("sitc.host is empty: set the Stock In The Channel upload target in [sitc]")
    return Target(
        protocol=sitc.protocol,
        host=sitc.host,
        port=sitc.port,
        user=sitc.username,
        password=sitc.password,
        directory=sitc.directory,
        method="SITC",
    )
