"""A feed as Hub sends it, read leniently: what the daemon, the runner and the views need.

Hub's list may hold configurations that do not validate (written by another
tool, or before a rule existed). The schedule, the ledger and the tables
still need a feed's id, organisation, name, method, whether it is active and
its timeslot; ``HubFeed.read`` takes each of them when it is usable and None
otherwise, never raising. ``masked`` is a configuration with its secrets
replaced by ``********``, as ``show`` and ``list`` print it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from .. import redact
from .model import SECRET_FIELDS, Timeslot, raw_names

_TIMESLOT = TypeAdapter(Timeslot)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class HubFeed:
    """The fields of a raw configuration that scheduling and display rely on; None where unusable."""

    raw: Mapping[str, Any]
    id: int | None
    organisation: int | None
    name: str
    method: str | None
    active: bool
    timeslot: int | None

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> HubFeed:
        try:
            timeslot: int | None = _TIMESLOT.validate_python(raw.get("timeslot"), strict=True)
        except ValidationError:
            timeslot = None
        name, method = raw.get("name"), raw.get("delivery_method")
        return cls(
            raw=raw,
            id=_int(raw.get("id")),
            organisation=_int(raw.get("organisation")),
            name=name if isinstance(name, str) else "",
            method=method if isinstance(method, str) else None,
            active=raw.get("active") is not False,  # null or absent means the default, true
            timeslot=timeslot,
        )

    def label(self) -> str:
        return f"feed {self.id} ({self.name})" if self.name else f"feed {self.id}"

    def secrets(self) -> list[str]:
        """The secret values the configuration holds (its delivery password), to mask what is said of it."""
        return [self.raw[key] for name in SECRET_FIELDS for key in raw_names(name) if isinstance(self.raw.get(key), str)]


def masked(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration as Hub sent it, with the secrets masked by structure."""
    shown = dict(raw)
    for name in SECRET_FIELDS:
        for key in raw_names(name):
            if shown.get(key) is not None:
                shown[key] = redact.MASK
    return shown
