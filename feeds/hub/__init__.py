"""Hub: the API client and its local stand-in, the sandbox."""

from __future__ import annotations

from typing import Any

from .client import HubClient, Page
from .organisations import Credentials, Hubs, as_hubs
from .settings import TOKEN_PATH, HubSettings, OrganisationCredentials

__all__ = ["Credentials", "HubClient", "HubSettings", "Hubs", "OrganisationCredentials", "Page", "as_hubs", "open_hub"]

SANDBOX_BASE_URL = "http://sandbox.invalid/api/v1"


def open_hub(settings: HubSettings, **options: Any) -> HubClient:
    """A client for the configured Hub; ``base_url = "sandbox"`` runs the sandbox in process."""
    if settings.is_sandbox and "transport" not in options:
        from .sandbox import Sandbox, SandboxTransport  # lazy: only the sandbox set-up loads the sandbox

        app = options.pop("sandbox", None) or Sandbox.from_samples()
        return HubClient(
            settings,
            transport=SandboxTransport(app=app),
            base_url=SANDBOX_BASE_URL,
            token_url=SANDBOX_BASE_URL + TOKEN_PATH,
            **options,
        )
    return HubClient(settings, **options)
