"""``[schedule]``: how much runs at once, on how many cores, and how a fleet takes work over (SPEC §5, §11, §14)."""

from __future__ import annotations

import os
from datetime import timedelta

from pydantic import Field

from ..sections import Section


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class ScheduleSettings(Section):
    #: organisations' work taken at once by one daemon (each organisation's slot is one piece of work)
    max_parallel: int = Field(4, ge=1, le=256)
    #: one organisation's feeds never run more at once than this, across the fleet (SPEC §11)
    max_parallel_per_organisation: int = Field(2, ge=1, le=256)
    #: a claim nobody can vouch for is abandoned this long after it was taken (a bound: runs end sooner)
    lease_minutes: int = Field(25, ge=1, le=1440)
    shutdown_grace: float = Field(60.0, ge=0)
    #: worker processes that read, render and deliver; 0 = the number of usable CPUs; 1 = in the daemon itself
    processes: int = Field(0, ge=0, le=256)
    #: a dead daemon's unfinished work is taken over this long after its last heartbeat (a fleet, SPEC §14)
    takeover_seconds: float = Field(120.0, ge=5, le=3600)

    @property
    def worker_processes(self) -> int:
        return self.processes or usable_cpus()

    def lease(self, run_deadline_minutes: float) -> timedelta:
        """How long a claim no live process vouches for holds: ``lease_minutes``, never less than a run may last."""
        return timedelta(minutes=max(self.lease_minutes, run_deadline_minutes + 5))
