"""File names: Hub's default pattern, strftime expansion and the safety rule.

Which name a feed's file gets is its delivery method's choice (``Method.file_name``).

A file name ends up as a path component on somebody else's server and as an
attachment name in a mail, so it must be one plain name (SPEC §3): 1 to 255
bytes of UTF-8, no slash, backslash, NUL or control character, not ``.`` or
``..`` and not hidden (no leading dot).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

HUB_DEFAULT_PATTERN = "Hub Feed %Y%m%d%H%M%S.csv"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_filename(name: str) -> str | None:
    """Why ``name`` is not a safe file name, or None when it is."""
    if not name:
        return "is empty; give a file name such as Stock.csv"
    if "/" in name or "\\" in name:
        return "contains a path separator ('/' or '\\'); give a file name only, such as Stock.csv"
    if "\x00" in name:
        return "contains a NUL byte; give a plain file name such as Stock.csv"
    if _CONTROL.search(name):
        return "contains a control character (such as a line break or tab); give a plain file name such as Stock.csv"
    if name in (".", ".."):
        return f"is {name!r}, which names a folder, not a file; give a file name such as Stock.csv"
    if name.startswith("."):
        return "starts with '.', which hides the file on most servers; give a name such as Stock.csv"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid Unicode text; give a plain file name such as Stock.csv"
    if size > 255:
        return f"is {size} bytes long in UTF-8; use at most 255"
    return None


def expand_pattern(pattern: str, when: datetime) -> str:
    """Expand a strftime pattern at ``when`` in UTC."""
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime(pattern)
