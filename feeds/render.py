"""Rows to CSV bytes: delimiters, escape methods, header row (SPEC §3).

UTF-8 without BOM, CRLF after every line (the last one too). Each line is
first joined as it is; only a line that holds a character the escape method
cares about (besides its own delimiters) takes the slow road field by field.
Real catalogues are mostly plain, so most lines cost one join and four C-level
scans, which keeps rendering at csv.writer's speed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from . import failpoints

DELIMITERS = {"COMMA": ",", "SEMI_COLON": ";"}
ESCAPE_METHODS = ("ESCAPED", "QUOTED", "STRIPPED")
LINE_END = "\r\n"
_CHUNK_ROWS = 2048
#: a rendered file up to this size is kept in memory for the catalogue's other feeds of the same format
SHARED_FILE_LIMIT = 32 * 1024 * 1024


def field_escaper(delimiter: str, method: str) -> Callable[[str], str]:
    """The function that escapes one field for ``method`` with delimiter ``delimiter``."""
    d = delimiter
    if method == "QUOTED":

        def quoted(value: str) -> str:
            if d in value or '"' in value or "\r" in value or "\n" in value:
                return '"' + value.replace('"', '""') + '"'
            return value

        return quoted
    if method == "ESCAPED":
        escaped_d = "\\" + d

        def escaped(value: str) -> str:
            return (
                value.replace("\\", "\\\\")
                .replace(d, escaped_d)
                .replace("\n", "\\n")
                .replace("\r", "\\r")
            )

        return escaped
    if method == "STRIPPED":

        def stripped(value: str) -> str:
            return value.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace(d, "")

        return stripped
    raise ValueError(f"unknown escape method {method!r}")


def line_encoder(delimiter: str, method: str) -> Callable[[Sequence[str]], str]:
    """The function that turns one row into one line (without its line end)."""
    d = delimiter
    escape = field_escaper(d, method)
    special = '"' if method == "QUOTED" else "\\" if method == "ESCAPED" else "\n"
    join = d.join

    def encode(row: Sequence[str]) -> str:
        line = join(row)
        if (
            special not in line
            and "\n" not in line
            and "\r" not in line
            and line.count(d) == len(row) - 1
        ):
            return line
        return join([escape(value) for value in row])

    return encode


@dataclass(frozen=True)
class Rendered:
    rows: int
    bytes: int
    sha256: str


class _HashingWriter:
    def __init__(self, out: BinaryIO):
        self.out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.out.write(data)
        self.digest.update(data)
        self.size += len(data)


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (JSON allows "\ud800") cannot be UTF-8: it becomes U+FFFD.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")


def render(
    rows: Iterable[Sequence[str]],
    out: BinaryIO,
    *,
    header: Sequence[str] | None,
    delimiter: str = "COMMA",
    escape_method: str = "QUOTED",
    on_rows: Callable[[int], None] | None = None,
) -> Rendered:
    """Write ``header`` (when given) and ``rows`` to ``out``; return counts and the SHA-256."""
    encode = line_encoder(DELIMITERS[delimiter], escape_method)
    writer = _HashingWriter(out)
    if header is not None:
        writer.write(_utf8(encode(header) + LINE_END))
    count = 0
    chunk: list[str] = []
    append = chunk.append
    for row in rows:
        append(encode(row))
        if len(chunk) >= _CHUNK_ROWS:
            writer.write(_utf8(LINE_END.join(chunk) + LINE_END))
            count += len(chunk)
            chunk.clear()
            failpoints.reached("render")
            if on_rows:
                on_rows(count)
    if chunk:
        writer.write(_utf8(LINE_END.join(chunk) + LINE_END))
        count += len(chunk)
        if on_rows:
            on_rows(count)
    return Rendered(count, writer.size, writer.digest.hexdigest())


class _Keeping:
    """Writes through to ``out`` and keeps a copy of what was written, up to ``limit`` bytes."""

    def __init__(self, out: BinaryIO, limit: int):
        self.out, self.limit = out, limit
        self.parts: list[bytes] | None = []
        self.size = 0

    def write(self, data: bytes) -> None:
        self.out.write(data)
        self.size += len(data)
        if self.parts is not None:
            self.parts.append(data)
            if self.size > self.limit:
                self.parts = None  # too large to keep: the other feeds render it themselves

    def kept(self) -> bytes | None:
        return None if self.parts is None else b"".join(self.parts)


def render_feed(catalogue, feed, out: BinaryIO, on_rows: Callable[[int], None] | None = None) -> Rendered:
    """Render ``feed`` from ``catalogue`` in the feed's format (SITC's is fixed).

    Feeds of one catalogue in the same format with the same columns make the
    same bytes: the first renders them, the others copy them (when the file
    is at most ``SHARED_FILE_LIMIT``; ``Catalogue.once``).
    """
    delimiter, method, headers = feed.effective_format()
    header = ["sku", *feed.columns] if headers else None

    def rendered(into: BinaryIO) -> Rendered:
        return render(catalogue.rows(feed), into, header=header, delimiter=delimiter, escape_method=method,
                      on_rows=on_rows)

    once = getattr(catalogue, "once", None)
    if once is None:
        return rendered(out)
    made: list[bool] = []

    def make() -> tuple[bytes | None, Rendered]:
        keeping = _Keeping(out, SHARED_FILE_LIMIT)
        result = rendered(keeping)  # type: ignore[arg-type]
        made.append(True)
        return keeping.kept(), result

    data, result = once(("file", tuple(feed.columns), feed.show_empty_stock, delimiter, method, headers), make)
    if made:
        return result
    if data is None:
        return rendered(out)
    out.write(data)
    if on_rows:
        on_rows(result.rows)
    return result
