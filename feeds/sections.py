"""The base of every settings section: strict types, frozen, unknown keys refused.

A section is declared by the part of the program that reads it (``[hub]`` by
the Hub client, ``[smtp]`` by the email method, ``[guard]`` by the change
summary, ...) and handed to that part alone. ``wiring.py`` gathers them into
the product's ``Settings``; ``settings.py`` reads a file and the environment
into whatever sections it is given. Secrets are declared by structure: a
``SecretStr`` field is a secret, masked wherever it could be written.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def notices(self) -> list[str]:
        """Warnings to log when the settings are read: what is allowed but unwise (plain text on the wire)."""
        return []
