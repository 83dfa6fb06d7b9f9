"""Pydantic's errors as sentences: what is wrong with a field, and what would be right.

``explain`` turns one pydantic error into a ``Problem`` such as
``timeslot: 45 is not a multiple of 30 (try 30 or 60)``. Values are shown
short (``show``) and secrets never.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import rules
from ..deliver import METHODS
from ..render import DELIMITERS
from .model import COLUMNS, SECRET_FIELDS, FeedConfig, hub_name, raw_names

#: longer words get no "did you mean" suggestion: comparing them costs quadratic time (SPEC §11)
MAX_SUGGEST_LENGTH = 100


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def a_or_an(word: str) -> str:
    """``word`` after its article, as it is read aloud: "an EMAIL feed", "an FTP feed", "a SITC feed"."""
    initialism = word.isupper() and not any(letter in "AEIOU" for letter in word)
    vowel_sound = word[:1] in ("AEFHILMNORSX" if initialism else "AEIOUaeiou")
    return f"{'an' if vowel_sound else 'a'} {word}"


def show(value: Any) -> str:
    return rules.show(value)


def _folded(word: str) -> str:
    """A word without case, spaces, hyphens and underscores: ``semi-colon`` is ``SEMI_COLON``."""
    return re.sub(r"[\s_-]+", "", word).lower()


def close(word: Any, choices: list[str] | tuple[str, ...]) -> str | None:
    """The choice ``word`` is probably a misspelling of, if any."""
    if not isinstance(word, str) or len(word) > MAX_SUGGEST_LENGTH:
        return None
    folded = {_folded(choice): choice for choice in choices}
    if _folded(word) in folded:
        return folded[_folded(word)]
    lowered = {choice.lower(): choice for choice in choices}
    matches = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.75)
    return lowered[matches[0]] if matches else None


#: words a spreadsheet would use for a column
_COLUMN_WORDS = {"qty": "stock", "quantity": "stock", "stocklevel": "stock", "cost": "price", "buyprice": "price",
                 "msrp": "rrp", "listprice": "rrp", "brand": "vendor", "manufacturer": "vendor", "title": "name",
                 "description": "name", "barcode": "ean", "gtin": "ean", "upc": "ean", "partnumber": "mpn"}


def _natural_values() -> dict[str, dict[str, tuple[str, str]]]:
    """What people naturally write for an enumerated field instead of its name, by field: the word folded ->
    (the name meant, what "did you mean" adds after it). A delimiter is written as its character, an escape
    method as the character it uses, a column as a spreadsheet's word; each method adds its own words."""
    natural: dict[str, dict[str, tuple[str, str]]] = {
        "delimiter": {char: (name, f", the name of {show(char)}") for name, char in DELIMITERS.items()},
        "escape_method": {'"': ("QUOTED", ", which encloses fields in quotes"),
                          "\\": ("ESCAPED", ", which escapes with a backslash")},
        "columns": {word: (column, "") for word, column in _COLUMN_WORDS.items() if column in COLUMNS},
    }
    for method in METHODS.values():
        for field, words in method.natural_values.items():
            natural.setdefault(field, {}).update(words)
    return natural


NATURAL_VALUES = _natural_values()


def suggestion(field: str | None, value: Any, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'X'?)`` for a value of an enumerated field, or nothing: the name of a value written
    as what it stands for (``;`` for ``SEMI_COLON``), else the choice it is a misspelling of."""
    if not isinstance(value, str) or len(value) > MAX_SUGGEST_LENGTH:
        return ""
    meant, note = NATURAL_VALUES.get(field or "", {}).get(_folded(value) or value, ("", ""))
    guess = meant or close(value, choices)
    if not guess:
        return ""
    return f" (did you mean '{guess}'{note}?)"


_TYPE_NAMES = {
    "int_type": "a whole number",
    "bool_type": "true or false",
    "string_type": "a string",
    "tuple_type": "a list",
    "list_type": "a list",
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def field_of(key: Any) -> str | None:
    """The model's field that a configuration key names (under any accepted spelling), if any."""
    for name in FeedConfig.model_fields:
        if key == name or key in raw_names(name):
            return name
    return None


def misspelt_as(key: str, name: str) -> str:
    """What the message of a missing field adds when the configuration holds a misspelling of it instead."""
    return f"; did you misspell it as {show(key)}? rename that field to {name}"


def explain(error: dict[str, Any], raw: dict[str, Any], misspelt: Mapping[str, str] | None = None) -> Problem:
    """Turn one pydantic error into a sentence: what is wrong, what would be right.

    ``misspelt`` maps a field to the unknown key that looks like its misspelling: a missing field's
    message names it, so that the two problems are said as the one they are.
    """
    loc = list(error["loc"])
    field = field_of(loc[0]) if loc else None
    if field is not None:
        # the field as the configuration spells it (delivery_procotol or delivery_protocol)
        loc[0] = next((key for key in raw_names(field) if key in raw), hub_name(field))
    path = loc[0] if loc else ""
    for part in loc[1:]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    kind = error["type"]
    value = error.get("input")
    secret = bool(loc) and any(loc[0] in raw_names(name) for name in SECRET_FIELDS)
    shown = "the value" if secret else show(value)
    ctx = error.get("ctx") or {}
    if kind == "missing":
        message = "is required"
        if field in (misspelt or {}):
            message += misspelt_as(misspelt[field], path)  # type: ignore[index]
        elif path == "columns":
            message += "; list at least one of " + ", ".join(COLUMNS)
        elif path == "timeslot":
            message += "; give the minutes after 00:00 UTC, a multiple of 30 such as 150 for 02:30"
    elif kind in _TYPE_NAMES:
        got = json_type(value)
        message = f"must be {_TYPE_NAMES[kind]}, not {got}"
        if not secret and kind != "tuple_type" and not isinstance(value, (list, dict)):
            message += f" ({shown})"
        if kind == "int_type" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            message += f"; write it without quotes: {value.strip()}"
        if kind == "bool_type" and isinstance(value, str) and value.lower() in {"true", "false"}:
            message += f"; write it without quotes: {value.lower()}"
    elif kind == "literal_error":
        expected = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        if path.startswith("columns") and isinstance(value, str) and value.lower() == "sku":
            message = (f"{shown} is not listed: every file starts with the SKU; list the columns after it, from "
                       + ", ".join(COLUMNS))
        elif path.startswith("columns"):
            message = f"{shown} is not a column; use one of " + ", ".join(COLUMNS) + suggestion(field, value, COLUMNS)
        else:
            message = f"{shown} is not allowed; use one of " + ", ".join(expected) + suggestion(field, value, expected)
    elif kind == "multiple_of":
        below = value - value % 30
        message = f"{value} is not a multiple of 30 (try {below} or {below + 30})"
        if below + 30 > 1410:
            message = f"{value} is not a multiple of 30 (try {below})"
    elif kind in {"greater_than", "greater_than_equal", "less_than_equal", "less_than"}:
        ranges = {
            "timeslot": "0 to 1410 (minutes after 00:00 UTC; 1410 is 23:30)",
            "delivery_port": "1 to 65535",
        }
        message = f"{shown} is out of range; use " + ranges.get(path, "a whole number greater than 0")
    elif kind == "string_too_long":
        message = f"is too long ({len(value)} characters); use at most {ctx.get('max_length')}"
    elif kind == "string_too_short":
        message = "is empty; give a value"
    elif kind == "too_short":
        message = "is empty; list at least one of " + ", ".join(COLUMNS)
    else:
        message = str(error["msg"])
    return Problem(path, message)
