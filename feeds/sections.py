"""The base of every settings section: strict types, frozen, unknown keys refused.

A section is declared by the part of the program that reads it (``[hub]`` by
the Hub client, ``[smtp]`` by the email method, ``[guard]`` by the change
summary, ...) and handed to that part alone. ``wiring.py`` gathers them into
the product's ``Settings``; ``settings.py`` reads a file and the environment
into whatever sections it is given. Secrets are declared by structure: a
``SecretStr`` field is a secret, masked wherever it could be written. Paths
are declared the same way: a ``LocalPath`` field names a file or folder on
this machine, and the loader resolves a relative one against the folder of
the settings file that gave it, so that a command reads the same ledger
wherever it is run from.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict


class PathMarker:
    """The mark of a ``LocalPath`` field in its metadata (read by the settings loader)."""

    def __repr__(self) -> str:
        return "LocalPath"


PATH = PathMarker()
#: a file or folder on this machine (``""`` means unset; a value with ``://`` is a URL, not a path)
LocalPath = Annotated[str, PATH]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def notices(self) -> list[str]:
        """Warnings to log when the settings are read: what is allowed but unwise (plain text on the wire)."""
        return []
