"""File names: Hub's default pattern, strftime expansion and the safety rule.

Which name a feed's file gets is its delivery method's choice (``Method.file_name``).

A file name ends up as a path component on somebody else's server and as an
attachment name in a mail, so it must be one plain name (SPEC §3): 1 to 255
bytes of UTF-8, no slash, backslash, NUL or control character, not ``.`` or
``..`` and not hidden (no leading dot).

Beyond SPEC §3 (decision, README): resellers' servers are often Windows, so
names Windows reserves (``CON``, ``NUL``, ``COM1``, ``LPT1``, ... with any
extension), a ``:`` (``C:x.csv``, an alternate data stream) and a trailing dot
or space are refused; so are the bidirectional control characters, which can
make ``stock\u202egpj.exe`` look like a picture in a file list.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

HUB_DEFAULT_PATTERN = "Hub Feed %Y%m%d%H%M%S.csv"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_WINDOWS_RESERVED = re.compile(r"(?i)^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$")


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
    if _BIDI.search(name):
        return "contains a bidirectional control character, which can disguise the name; give a plain file name such as Stock.csv"
    if ":" in name:
        return "contains ':', which Windows servers take for a drive or a data stream; give a name such as Stock.csv"
    if _WINDOWS_RESERVED.match(name):
        return f"is {name!r}, a name Windows reserves for a device; give another name such as Stock.csv"
    if name[-1] in ". ":
        return "ends with a dot or a space, which Windows servers drop; give a name such as Stock.csv"
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


def fit(filename: str, *, prefix: str = "", suffix: str = "", limit: int = 255) -> str:
    """``prefix + filename + suffix`` within ``limit`` bytes (a file system's limit on a name).

    Any valid feed file name may use all 255 bytes; the names feeds makes from
    it (the archive's, the outbox's ``.eml`` and manifest) are shortened in the
    middle, keeping the name's start and its extension, marked with ``~``.
    """
    name = prefix + filename + suffix
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, extension = filename.rpartition(".")
    if not dot or len(extension) > 16:
        stem, extension = filename, ""
    tail = ("~." + extension if extension else "~") + suffix
    budget = limit - len(prefix.encode("utf-8")) - len(tail.encode("utf-8"))
    kept = stem.encode("utf-8")[:max(budget, 0)].decode("utf-8", "ignore")
    return prefix + kept + tail
