"""Hub: the API client and its local stand-in, the sandbox."""

from __future__ import annotations

from typing import Any

from ..settings import HubSettings
from .client import HubClient, Page

__all__ = ["HubClient", "Page", "open_hub"]

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
            token_url=SANDBOX_BASE_URL + "/oauth/token",
            **options,
        )
    return HubClient(settings, **options)
