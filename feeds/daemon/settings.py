"""``[schedule]``: how many feeds run at once, and how the daemon stops (SPEC §5, §11)."""

from __future__ import annotations

from pydantic import Field

from ..sections import Section


class ScheduleSettings(Section):
    max_parallel: int = Field(4, ge=1, le=256)
    #: one organisation's feeds never hold more workers at once (SPEC §11)
    max_parallel_per_organisation: int = Field(2, ge=1, le=256)
    lease_minutes: int = Field(25, ge=1, le=1440)
    shutdown_grace: float = Field(60.0, ge=0)
