"""``[web]``: who may read the status page, and where it may be served (SPEC §13).

Apart from the page (``web.py``) because every command reads the settings and
only the daemon serves the page.
"""

from __future__ import annotations

from pydantic import SecretStr

from .egress import is_loopback
from .errors import UsageError
from .sections import Section


class WebSettings(Section):
    """``[web]``: who may read the status page."""

    token: SecretStr = SecretStr("")  #: better: FEEDS_WEB_TOKEN
    #: the address of a reverse proxy whose X-Forwarded-Proto is believed (the sign-in cookie is Secure over https)
    trusted_proxy: str = ""


def check_binding(host: str, web: WebSettings) -> None:
    """Serving beyond loopback needs ``web.token`` (SPEC §13): refused at start otherwise (exit 2)."""
    if not is_loopback(host) and not web.token.get_secret_value():
        raise UsageError(f"--web-host {host} is beyond loopback and web.token is not set; the status page shows "
                         "every organisation's feeds and files: set web.token (better FEEDS_WEB_TOKEN) or serve on "
                         "127.0.0.1")
