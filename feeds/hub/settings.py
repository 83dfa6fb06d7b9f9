"""``[hub]`` and ``[organisations.<id>]``: where Hub is and whose credentials read it (SPEC §1, §10)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr

from .. import retry
from ..egress import is_loopback
from ..sections import Section

SANDBOX = "sandbox"
#: Hub's token endpoint under the base URL (SPEC §1: Nuvias UC's sample client posts there)
TOKEN_PATH = "/oauth/create_token"


class HubSettings(Section):
    base_url: str = "https://hub.nuvias-uc.com/api/v1"
    token_url: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    per_page: int = Field(1000, ge=1, le=1000)
    timeout: float = Field(30.0, gt=0)
    attempts: int = Field(retry.HUB.attempts, ge=1, le=20)
    concurrency: int = Field(4, ge=1, le=32)

    @property
    def is_sandbox(self) -> bool:
        return self.base_url.strip().lower() == SANDBOX

    @property
    def effective_token_url(self) -> str:
        return self.token_url or self.base_url.rstrip("/") + TOKEN_PATH

    def notices(self) -> list[str]:
        url = urlsplit(self.base_url.strip())
        if not self.is_sandbox and url.scheme == "http" and not is_loopback(url.hostname or ""):
            return [f"hub.base_url is plain http ({self.base_url}): the client secret and every answer cross the "
                    "network unencrypted; use https"]
        return []


class OrganisationCredentials(Section):
    """``[organisations.<id>]``: the Hub API client of organisation ``<id>`` (SPEC §10)."""

    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
