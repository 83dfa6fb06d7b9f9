"""``[delivery]``: how files are delivered, whatever the method (SPEC §4, §11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from .. import retry
from ..egress import parse_networks
from ..sections import LocalPath, Section


class DeliverySettings(Section):
    outbox: LocalPath = ""
    attempts: int = Field(retry.DELIVERY.attempts, ge=1, le=20)
    timeout: float = Field(60.0, gt=0)
    retry_wait: float = Field(retry.DELIVERY.first_wait, ge=0)
    #: CIDRs exempt from the egress rule (SPEC §11)
    allow_networks: list[str] = []
    #: no run lasts longer, whatever a server does (SPEC §11); fractions allowed
    run_deadline_minutes: float = Field(20.0, gt=0, le=1440)

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value

    @property
    def allowed_networks(self) -> tuple[Any, ...]:
        return parse_networks(self.allow_networks)

    @property
    def outbox_path(self) -> Path | None:
        return Path(self.outbox).expanduser().absolute() if self.outbox else None

    @property
    def policy(self) -> retry.RetryPolicy:
        """The delivery attempts: ``retry.DELIVERY`` with this section's numbers."""
        return retry.DELIVERY.but(attempts=self.attempts, first_wait=self.retry_wait)

    @property
    def deadline_seconds(self) -> float:
        return self.run_deadline_minutes * 60

    @property
    def deadline_text(self) -> str:
        return f"delivery.run_deadline_minutes ({self.run_deadline_minutes:g} min)"
