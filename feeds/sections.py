"""The base of every settings section: strict types, frozen, unknown keys refused.

Sections live beside the code that reads them (``[smtp]`` in the email
method, ``[sitc]`` in the SITC method, ...); ``settings.py`` gathers them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
