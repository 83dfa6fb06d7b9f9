"""The change summary and the guard (SPEC §12): this file beside the feed's last delivered one.

A ``Snapshot`` is what a file said about each SKU (its price and whether it
was in stock), kept compressed in the ledger with the run, so that the
comparison survives archive pruning and restarts and works on PostgreSQL as
on SQLite. Files are ordered by SKU, so two snapshots are compared by one
merge of two sorted streams: time grows with the rows, memory does not.

The guard holds a file that looks broken: a wrong catalogue sent to every
reseller is worse than a late one. Its rules (``hold_reason``): no rows where
there were some; rows fell by more than ``guard.max_row_drop`` against the
largest of the last deliveries (so that a step-by-step shrink is caught);
fewer than half of the last delivery's SKUs still there; the median price
ratio beyond ``guard.max_price_change`` either way; the share of rows with
empty stock up by more than ``guard.max_empty_stock_rise``. The facts the
price and SKU rules need are gathered by the same merge as the summary.
"""

from __future__ import annotations

import struct
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from operator import itemgetter
from math import inf, isfinite
from typing import Any

import orjson
from pydantic import Field

from .record import PRICE, SKU, STOCK, Record
from .sections import Section


class GuardSettings(Section):
    """``[guard]``: when a file is held instead of sent."""

    enabled: bool = True
    max_row_drop: float = Field(0.5, ge=0, le=1)
    max_empty_stock_rise: float = Field(0.5, ge=0, le=1)
    #: the median price ratio (new/old) that holds a file: above this, or below its inverse
    max_price_change: float = Field(2.0, ge=1)


#: how many of a feed's last deliveries the row drop is measured against (the largest of them)
ROW_DROP_WINDOW = 7


_FIELD = "\x00"
_BLOCK = 65536
#: the first byte of a snapshot's data: columns of NUL-joined fields, or JSON lines (a field holding a NUL)
_COLUMNS, _JSON = b"C", b"J"
_HEADER = struct.Struct("<III")


Columns = tuple[list[str], list[str], list[str]]


def columns_of(records: Sequence[Record]) -> list[Columns]:
    """The SKU, price and stock columns of records, a block at a time: read once, used by the snapshot and
    the comparison (the strings are the records' own, so this costs the lists alone)."""
    return [(list(map(itemgetter(SKU), block)), list(map(itemgetter(PRICE), block)),
             list(map(itemgetter(STOCK), block)))
            for block in (records[start:start + _BLOCK] for start in range(0, len(records), _BLOCK))]


@dataclass(frozen=True)
class Snapshot:
    """One file's rows: SKU, price and stock columns in SKU order, compressed. Stock "" is empty stock."""

    rows: int
    empty_stock: int
    data: bytes

    @classmethod
    def of(cls, records: Sequence[Record], blocks: list[Columns] | None = None) -> Snapshot:
        """From a catalogue's records (sorted by SKU, then id), as a feed's file writes them."""
        compressor = zlib.compressobj(1)
        chunks = [_COLUMNS]
        empty = 0
        for columns in blocks if blocks is not None else columns_of(records):
            parts = []
            for column in columns:
                text = _FIELD.join(column)
                if text.count(_FIELD) != len(column) - 1:  # a field holds a NUL itself: the careful format
                    return cls._as_json(records)
                parts.append(text.encode("utf-8", "surrogatepass"))
            empty += columns[2].count("")
            chunks.append(compressor.compress(_HEADER.pack(*map(len, parts)) + b"".join(parts)))
        chunks.append(compressor.flush())
        return cls(len(records), empty, b"".join(chunks))

    @classmethod
    def _as_json(cls, records: Sequence[Record]) -> Snapshot:
        pick = itemgetter(SKU, PRICE, STOCK)
        lines = b"\n".join(orjson.dumps(pick(r)) for r in records)
        empty = sum(1 for r in records if r.stock == "")
        return cls(len(records), empty, _JSON + zlib.compress(lines, 1))

    def blocks(self) -> Iterator[tuple[list[str], list[str], list[str]]]:
        """The columns, one block of rows at a time."""
        if self.data[:1] == _JSON:
            rows = [tuple(orjson.loads(line)) for line in zlib.decompress(self.data[1:]).split(b"\n") if line]
            for start in range(0, len(rows), _BLOCK):
                block = rows[start:start + _BLOCK]
                yield [r[0] for r in block], [r[1] for r in block], [r[2] for r in block]
            return
        decompressor = zlib.decompressobj()
        buffer = b""
        body = memoryview(self.data)[1:]
        position = 0
        while True:
            if len(buffer) >= _HEADER.size:
                sizes = _HEADER.unpack_from(buffer)
                need = _HEADER.size + sum(sizes)
                if len(buffer) >= need:
                    offset, columns = _HEADER.size, []
                    for size in sizes:
                        columns.append(buffer[offset:offset + size].decode("utf-8", "surrogatepass").split(_FIELD))
                        offset += size
                    buffer = buffer[need:]
                    yield columns[0], columns[1], columns[2]
                    continue
            if position >= len(body):
                buffer += decompressor.flush()
                if len(buffer) < _HEADER.size:
                    return
                if len(buffer) < _HEADER.size + sum(_HEADER.unpack_from(buffer)):
                    raise ValueError("a snapshot in the ledger is cut short")
                continue
            buffer += decompressor.decompress(body[position:position + (1 << 18)])
            position += 1 << 18

    def entries(self) -> Iterator[tuple[str, str, str]]:
        """(SKU, price, stock) in SKU order."""
        for skus, prices, stocks in self.blocks():
            yield from zip(skus, prices, stocks)

    @property
    def empty_share(self) -> float:
        return self.empty_stock / self.rows if self.rows else 0.0


#: rows compared at once by slicing (in C); only rows that differ are looked at one by one
_WINDOW = 4096


class _Cursor:
    """A position in one side's SKU-ordered columns, refilled block by block."""

    def __init__(self, blocks: Iterator[tuple[list[str], list[str], list[str]]]):
        self._blocks = blocks
        self.skus: list[str] = []
        self.prices: list[str] = []
        self.stocks: list[str] = []
        self.i = 0

    def ensure(self, count: int) -> int:
        """Make ``count`` rows ahead available if they exist; return how many are."""
        while len(self.skus) - self.i < count:
            block = next(self._blocks, None)
            if block is None:
                break
            i = self.i
            self.skus = self.skus[i:] + block[0]
            self.prices = self.prices[i:] + block[1]
            self.stocks = self.stocks[i:] + block[2]
            self.i = 0
        return len(self.skus) - self.i


@dataclass
class Changes:
    """What changed since the last delivered file (``previous_rows`` None: there was none).

    ``kept`` (rows that pair up by SKU: the SKUs in both files) and
    ``median_price_ratio`` are for the guard: they are not part of the
    summary the ledger and ``history`` show.
    """

    previous_rows: int | None
    rows: int
    added: int = 0
    removed: int = 0
    price_up: int = 0
    price_down: int = 0
    out_of_stock: int = 0
    back_in_stock: int = 0
    kept: int | None = field(default=None, compare=False, repr=False)
    median_price_ratio: float | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.compare}

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


class _Ratios:
    """The price ratios (new/old) of the rows that pair up by SKU, gathered during the merge.

    Most prices do not move: those are counted (``same``), not stored; only
    the moves are kept, unboxed, so the median costs nothing in the common
    case. A row with an empty price on either side has no ratio; 0.00 counts
    as described in ``_ratio``.
    """

    def __init__(self) -> None:
        self.same = 0  #: rows whose price did not move (ratio 1)
        self.moved = array("d")

    def median(self) -> float | None:
        count = self.same + len(self.moved)
        if not count:
            return None
        moved = sorted(self.moved) if self.moved else []
        below = bisect_left(moved, 1.0)  # the unmoved prices (ratio 1) stand between these and the rest

        def nth(n: int) -> float:
            if n < below:
                return moved[n]
            return 1.0 if n < below + self.same else moved[n - self.same]

        return (nth((count - 1) // 2) + nth(count // 2)) / 2


def _price(text: str) -> float | None:
    """A file's price as a number, or None (empty). Prices have two decimals and float() rounds correctly, so
    two different prices (below 10^13) never compare equal or the wrong way round: floats are exact enough here,
    and several times quicker than Decimal when every price of a million rows moved."""
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if isfinite(number) else None


def _ratio(before: float, after: float) -> float:
    """new/old, a price of 0 or less counting as 0: to 0 is a ratio of 0, from 0 an infinite one, 0 to 0 none."""
    if before <= 0:
        return 1.0 if after <= 0 else inf
    return after / before if after > 0 else 0.0


def compare(previous: Snapshot | None, current: Snapshot | Sequence[Record] | list[Columns], *, prices: bool,
            stock: bool) -> Changes:
    """The change summary of ``current`` beside ``previous``, by SKU; price and stock moves only with those columns.

    Both sides are ordered by SKU, so this is one merge. Runs of rows that are
    the same on both sides are skipped a window at a time by comparing column
    slices (in C); only the rows around a change are looked at one by one.
    Memory holds a block of each side. A SKU that a file holds twice speaks
    by its first row.
    """
    new_blocks: Iterator[Columns]
    if isinstance(current, Snapshot):
        new_blocks, rows = current.blocks(), current.rows
    elif current and isinstance(current[0], tuple) and len(current[0]) == 3 and isinstance(current[0][0], list):
        new_blocks, rows = iter(current), sum(len(block[0]) for block in current)  # type: ignore[arg-type]
    else:
        new_blocks, rows = iter(columns_of(current)), len(current)  # type: ignore[arg-type]
    changes = Changes(previous.rows if previous is not None else None, rows)
    new = _Cursor(new_blocks)
    if previous is None:
        last = None
        while new.ensure(1):
            for sku in new.skus[new.i:]:
                if sku != last:
                    changes.added += 1
                    last = sku
            new.i = len(new.skus)
        return changes
    old = _Cursor(previous.blocks())
    added = removed = up = down = out = back = kept = 0
    ratios = _Ratios()
    last_old = last_new = None
    while True:
        left, right = old.ensure(_WINDOW), new.ensure(_WINDOW)
        if not left or not right:
            break
        i, j, n = old.i, new.i, min(left, right)
        o_skus, n_skus = old.skus[i:i + n], new.skus[j:j + n]
        # The rows that pair up from here: all of them (the common case) or up to the first difference.
        k = n if o_skus == n_skus else next(x for x, (p, q) in enumerate(zip(o_skus, n_skus)) if p != q)
        if k:
            kept += k  # rows that pair up: a SKU both files hold twice counts twice (finding repeats costs 8 %)
            if prices:
                moved_up, moved_down = _price_moves(o_skus, old.prices[i:i + k], new.prices[j:j + k], last_old,
                                                    ratios)
                up += moved_up
                down += moved_down
            if stock:
                o_stocks, n_stocks = old.stocks[i:i + k], new.stocks[j:j + k]
                if o_stocks != n_stocks:
                    for x in [x for x, (p, q) in enumerate(zip(o_stocks, n_stocks)) if (p == "") != (q == "")]:
                        if o_skus[x] != (o_skus[x - 1] if x else last_old):
                            if n_stocks[x] == "":
                                out += 1
                            else:
                                back += 1
            old.i, new.i = i + k, j + k
            last_old = last_new = o_skus[k - 1]
            continue
        # The two sides differ here: step row by row, the smaller SKU added or removed (or a repeat of the
        # last), until they pair up again; a run of additions costs a comparison a row, not a window.
        while old.ensure(1) and new.ensure(1):
            a, b = old.skus[old.i], new.skus[new.i]
            if a == b and a != last_old and b != last_new:
                break
            if a == last_old:
                old.i += 1
            elif b == last_new:
                new.i += 1
            elif a < b:
                removed += 1
                last_old = a
                old.i += 1
            else:
                added += 1
                last_new = b
                new.i += 1
    for cursor, last, is_old in ((old, last_old, True), (new, last_new, False)):
        while cursor.ensure(1):  # what one side has beyond the other's end
            for sku in cursor.skus[cursor.i:]:
                if sku != last:
                    if is_old:
                        removed += 1
                    else:
                        added += 1
                    last = sku
            cursor.i = len(cursor.skus)
    changes.added, changes.removed, changes.price_up, changes.price_down = added, removed, up, down
    changes.out_of_stock, changes.back_in_stock = out, back
    changes.kept = kept
    changes.median_price_ratio = ratios.median() if prices else None
    return changes


def _price_moves(skus: list[str], o_prices: list[str], n_prices: list[str], last: str | None,
                 ratios: _Ratios) -> tuple[int, int]:
    """Prices up and down among rows that pair up (a SKU's first row speaks); the rows' ratios go to ``ratios``.

    Rows whose price did not move are counted by slicing (in C); only moved
    rows are looked at one by one.
    """
    moved = [] if o_prices == n_prices else [x for x, (p, q) in enumerate(zip(o_prices, n_prices)) if p != q]
    up = down = moved_from_empty = 0
    keep = ratios.moved.append
    for x in moved:
        before, after = _price(o_prices[x]), _price(n_prices[x])
        if before is None:
            moved_from_empty += o_prices[x] == ""
        if before is not None and after is not None:
            keep(_ratio(before, after))
            if skus[x] != (skus[x - 1] if x else last):
                up += after > before
                down += after < before
    ratios.same += len(o_prices) - len(moved) - (o_prices.count("") - moved_from_empty)  # unmoved, with a price
    return up, down


def hold_reason(previous: Snapshot | None, current: Snapshot, guard: GuardSettings, changes: Changes | None = None,
                *, largest_recent: int | None = None) -> str | None:
    """Why the file should be held instead of sent, each broken rule named by its setting; or None.

    ``changes`` is the comparison with ``previous`` (the SKU and price rules
    need it); ``largest_recent`` the most rows among the feed's last
    deliveries (``ROW_DROP_WINDOW``), which the row drop is measured against.
    A first delivery is never held.
    """
    if not guard.enabled or previous is None or previous.rows == 0:
        return None
    if current.rows == 0:
        return f"guard, no rows: the file has no rows and the last delivery had {previous.rows}"
    reasons = [_row_drop(previous.rows, max(previous.rows, largest_recent or 0), current.rows, guard)]
    if changes is not None:
        reasons += [_skus_replaced(changes), _price_change(changes.median_price_ratio, guard)]
    rise = current.empty_share - previous.empty_share
    if rise > guard.max_empty_stock_rise:
        reasons.append(f"guard.max_empty_stock_rise: the share of rows with empty stock rose from "
                       f"{previous.empty_share:.0%} to {current.empty_share:.0%} (more than "
                       f"{guard.max_empty_stock_rise:.0%})")
    return "; ".join(reason for reason in reasons if reason) or None


def _row_drop(last: int, largest: int, rows: int, guard: GuardSettings) -> str | None:
    drop = (largest - rows) / largest
    if drop <= guard.max_row_drop:
        return None
    against = "" if largest == last else f" (the largest of the last {ROW_DROP_WINDOW} deliveries; the last had {last})"
    return (f"guard.max_row_drop: the rows fell from {largest} to {rows}{against}, {drop:.0%}, more than "
            f"{guard.max_row_drop:.0%}")


def _skus_replaced(changes: Changes) -> str | None:
    kept, before = changes.kept or 0, (changes.kept or 0) + changes.removed
    if not before or kept * 2 >= before:
        return None
    return f"guard, SKUs replaced: {kept} of the last delivery's {before} SKUs are still in the file, fewer than half"


def _price_change(median: float | None, guard: GuardSettings) -> str | None:
    limit = guard.max_price_change
    if median is None or 1 / limit <= median <= limit:
        return None
    shown = "infinite (prices rose from 0.00)" if median == inf else f"{median:.2f}"
    return (f"guard.max_price_change: the median price ratio (new/old, over the SKUs priced in both files) is "
            f"{shown}, outside {1 / limit:.2f} to {limit:g}")
