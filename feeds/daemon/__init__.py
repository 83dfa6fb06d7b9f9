"""The scheduler daemon (SPEC §5): ``schedule.py`` decides and runs what is due, ``service.py`` is the process."""

from __future__ import annotations

from .catalogues import SharedCatalogue, WakeCatalogues
from .schedule import Daemon, Due
from .service import Service, wake_trigger
from .settings import ScheduleSettings

__all__ = ["Daemon", "Due", "ScheduleSettings", "Service", "SharedCatalogue", "WakeCatalogues", "wake_trigger"]
