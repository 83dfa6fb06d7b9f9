"""The scheduler daemon (SPEC §5, §14).

- ``schedule.py``: what is due, one piece of work per organisation (``Daemon``);
- ``work.py``: what a worker does with an organisation's work: claims, one catalogue, the runs;
- ``workers.py``: where the work is done: worker processes (every core), or threads of the daemon;
- ``local.py``: the embedded queue of one daemon (SQLite);
- ``fleet.py``: a fleet of daemons on PostgreSQL, on procrastinate;
- ``service.py``: the process: signals, the wakes, the shutdown;
- ``settings.py``: ``[schedule]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import lazy

if TYPE_CHECKING:
    from .schedule import Daemon
    from .service import Service, wake_trigger
    from .settings import ScheduleSettings
    from .work import DueFeed, OrganisationWork, WorkResult

__all__ = ["Daemon", "DueFeed", "OrganisationWork", "ScheduleSettings", "Service", "WorkResult", "wake_trigger"]

_WHERE = {"Daemon": "schedule", "Service": "service", "wake_trigger": "service", "ScheduleSettings": "settings",
          "DueFeed": "work", "OrganisationWork": "work", "WorkResult": "work"}


# Loaded on first use: ``[schedule]`` (``settings.py``) is read by every command, the daemon by one.
__getattr__ = lazy.exports(__name__, _WHERE)
