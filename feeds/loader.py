"""Reading feed configuration files (JSON) for ``feeds validate`` and ``feeds upload``.

A file is unreadable (exit status 2) when it cannot be opened, is not UTF-8
or is not JSON; what the JSON says is judged by ``config.check_documents``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_BYTES = 16 * 1024 * 1024


@dataclass
class Document:
    source: str
    data: Any = None
    unreadable: str | None = None
    duplicate_keys: list[str] = field(default_factory=list)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def parse(source: str, raw: bytes) -> Document:
    """Parse one document's bytes; never raises."""
    doc = Document(source)
    if len(raw) > MAX_BYTES:
        doc.unreadable = f"is {len(raw)} bytes; a feed configuration file is at most {MAX_BYTES} bytes"
        return doc
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        doc.unreadable = (
            f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        )
        return doc

    if not text.strip():
        doc.unreadable = ("is empty" if not text else "holds only white space") + (
            "; give one feed configuration object, or a list of them, in JSON")
        return doc

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen and key not in doc.duplicate_keys:
                doc.duplicate_keys.append(key)
            seen[key] = value
        return seen

    try:
        doc.data = json.loads(text, object_pairs_hook=pairs, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        doc.unreadable = f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    except ValueError as exc:
        doc.unreadable = f"is not valid JSON: {exc}"
    except RecursionError:
        doc.unreadable = "is not usable JSON: it is nested too deeply"
    return doc


def read(path: str) -> Document:
    """Read a file, or standard input for ``-``."""
    if path == "-":
        return parse("<stdin>", sys.stdin.buffer.read(MAX_BYTES + 1))
    try:
        p = Path(path)
        if p.is_dir():
            return Document(path, unreadable="is a folder; give JSON files")
        with p.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return Document(path, unreadable="does not exist")
    except OSError as exc:
        return Document(path, unreadable=f"cannot be read ({exc.strerror})")
    return parse(path, raw)
