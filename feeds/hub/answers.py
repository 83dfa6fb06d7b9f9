"""What Hub's answers say, for messages: the text of an error answer, never its JSON (SPEC §1).

A 400, 403, 404 or 422 is reported with Hub's answer body, secrets masked. A
person reads the sentence Hub wrote (its ``message`` and ``errors``), not
the JSON around it.
"""

from __future__ import annotations

import json
from typing import Any

from .. import redact

#: the keys of Hub's own answers that hold secrets; the feed configuration's secret fields are added by
#: whoever builds the client (``secret_keys``), from the feed model
OAUTH_SECRET_KEYS = frozenset({"client_secret", "access_token"})

#: the fields of a JSON answer in which Hub says what is wrong, in the order they are read
_SAYING_KEYS = ("message", "errors", "error_description", "error", "detail")


def hub_says(text: str, secret_keys: frozenset[str] = OAUTH_SECRET_KEYS, limit: int = 300) -> str:
    """What Hub's answer body says, for a message: the text of its ``message`` and ``errors`` (never the JSON
    itself), a plain-text body as it is, or nothing; secrets masked, cut to ``limit`` characters.

    ``errors`` may be a list of sentences or an object of field -> sentences; a value under one of
    ``secret_keys`` is masked by structure, and registered secrets everywhere.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        said = "" if text.lstrip().startswith("<") else text  # an HTML error page says nothing to a person
    else:
        said = _saying(data, secret_keys) if isinstance(data, dict) else ""
    said = " ".join(said.split())
    if len(said) > limit:
        said = said[:limit] + "…"
    return redact.redact(said)


def _saying(data: dict[str, Any], secret_keys: frozenset[str]) -> str:
    """The sentences of a JSON answer's saying fields, joined with "; "."""
    parts: list[str] = []

    def collect(value: Any, field: str = "") -> None:
        if field.rpartition(".")[2] in secret_keys:
            parts.append(f"{field}: {redact.MASK}")
        elif isinstance(value, str) and value.strip():
            parts.append(f"{field}: {value}" if field else value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"{field}: {value}" if field else str(value))
        elif isinstance(value, list):
            for item in value[:20]:
                collect(item, field)
        elif isinstance(value, dict):
            for key, item in list(value.items())[:20]:
                collect(item, f"{field}.{key}" if field else str(key))

    for key in _SAYING_KEYS:
        if key in data and not (key == "error" and "error_description" in data):
            collect(data[key])
    return "; ".join(dict.fromkeys(parts))


def with_saying(what: str, said: str) -> str:
    """``what`` happened, and what Hub said about it when it said something."""
    return f"{what}: {said}" if said else what
