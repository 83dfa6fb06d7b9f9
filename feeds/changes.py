"""The change summary and the guard (SPEC §12): this file beside the feed's last delivered one.

A ``Snapshot`` is what a file said about each SKU (its price and whether it
was in stock), kept compressed in the ledger with the run, so that the
comparison survives archive pruning and restarts and works on PostgreSQL as
on SQLite. Files are ordered by SKU, so two snapshots are compared by one
merge of two sorted streams: time grows with the rows, memory does not.

The guard holds a file that looks broken (rows fell by more than
``guard.max_row_drop``, no rows where there were some, or the share of rows
with empty stock rose by more than ``guard.max_empty_stock_rise``): a wrong
catalogue sent to every reseller is worse than a late one.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from pydantic import Field

from .record import Record
from .sections import Section


class GuardSettings(Section):
    """``[guard]``: when a file is held instead of sent."""

    enabled: bool = True
    max_row_drop: float = Field(0.5, ge=0, le=1)
    max_empty_stock_rise: float = Field(0.5, ge=0, le=1)


@dataclass(frozen=True)
class Snapshot:
    """One file's rows by SKU: (SKU, price, in stock), sorted by SKU, compressed."""

    rows: int
    empty_stock: int
    data: bytes

    @classmethod
    def of(cls, records: Iterable[Record]) -> Snapshot:
        """From a catalogue's records (sorted by SKU, then id); a SKU's first product speaks for it."""
        compressor = zlib.compressobj(6)
        chunks: list[bytes] = []
        lines: list[bytes] = []
        dumps = orjson.dumps
        rows = empty = 0
        last: str | None = None
        for record in records:
            rows += 1
            in_stock = record.stock != ""
            if not in_stock:
                empty += 1
            if record.sku == last:
                continue
            last = record.sku
            lines.append(dumps((record.sku, record.price, in_stock)))
            if len(lines) >= 4096:
                chunks.append(compressor.compress(b"\n".join(lines) + b"\n"))
                lines.clear()
        if lines:
            chunks.append(compressor.compress(b"\n".join(lines) + b"\n"))
        chunks.append(compressor.flush())
        return cls(rows, empty, b"".join(chunks))

    def entries(self) -> Iterator[tuple[str, str, bool]]:
        """(SKU, price, in stock) in SKU order, decompressed as it goes."""
        decompressor = zlib.decompressobj()
        rest = b""
        loads = orjson.loads
        for start in range(0, len(self.data), 1 << 16):
            block = rest + decompressor.decompress(self.data[start:start + (1 << 16)])
            *complete, rest = block.split(b"\n")
            for line in complete:
                yield tuple(loads(line))  # type: ignore[misc]
        block = rest + decompressor.flush()
        for line in block.split(b"\n"):
            if line:
                yield tuple(loads(line))  # type: ignore[misc]

    @property
    def empty_share(self) -> float:
        return self.empty_stock / self.rows if self.rows else 0.0


@dataclass
class Changes:
    """What changed since the last delivered file (``previous_rows`` None: there was none)."""

    previous_rows: int | None
    rows: int
    added: int = 0
    removed: int = 0
    price_up: int = 0
    price_down: int = 0
    out_of_stock: int = 0
    back_in_stock: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Changes | None:
        return cls(**data) if data else None

    def short(self) -> str:
        """One line: ``2458 rows (was 2460): +3 -5 SKUs, 7 up 2 down, 4 out of stock, 1 back``."""
        if self.previous_rows is None:
            return f"{self.rows} rows, first delivery"
        return (f"{self.rows} rows (was {self.previous_rows}): +{self.added} -{self.removed} SKUs, "
                f"prices {self.price_up} up {self.price_down} down, {self.out_of_stock} out of stock, "
                f"{self.back_in_stock} back in stock")


def _price(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def compare(previous: Snapshot | None, current: Snapshot, *, prices: bool, stock: bool) -> Changes:
    """The change summary of ``current`` beside ``previous``; price and stock moves only with those columns."""
    changes = Changes(previous.rows if previous is not None else None, current.rows)
    if previous is None:
        changes.added = sum(1 for _ in current.entries())
        return changes
    old, new = previous.entries(), current.entries()
    a, b = next(old, None), next(new, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            changes.removed += 1
            a = next(old, None)
        elif a is None or b[0] < a[0]:
            changes.added += 1
            b = next(new, None)
        else:
            if prices and a[1] != b[1]:
                before, after = _price(a[1]), _price(b[1])
                if before is not None and after is not None:
                    if after > before:
                        changes.price_up += 1
                    elif after < before:
                        changes.price_down += 1
            if stock and a[2] != b[2]:
                if a[2]:
                    changes.out_of_stock += 1
                else:
                    changes.back_in_stock += 1
            a, b = next(old, None), next(new, None)
    return changes


def hold_reason(previous: Snapshot | None, current: Snapshot, guard: GuardSettings) -> str | None:
    """Why the file should be held instead of sent, or None."""
    if not guard.enabled or previous is None or previous.rows == 0:
        return None
    if current.rows == 0:
        return f"the file has no rows and the last delivery had {previous.rows}"
    drop = (previous.rows - current.rows) / previous.rows
    if drop > guard.max_row_drop:
        return (f"the rows fell from {previous.rows} to {current.rows} ({drop:.0%}, more than guard.max_row_drop "
                f"{guard.max_row_drop:.0%})")
    rise = current.empty_share - previous.empty_share
    if rise > guard.max_empty_stock_rise:
        return (f"the share of rows with empty stock rose from {previous.empty_share:.0%} to "
                f"{current.empty_share:.0%} (more than guard.max_empty_stock_rise {guard.max_empty_stock_rise:.0%})")
    return None
