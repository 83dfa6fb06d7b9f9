"""The product record: one ordered definition of what a feed can print.

A catalogue holds each product as a ``Record``: the strings a feed prints,
already formatted by the value rules of SPEC §3 (``catalog.py``). The columns
a feed configuration may list, their order in messages and in the JSON
schema, and the positions a feed picks its columns from all derive from this
class. Adding a column is a field here and its value rule in
``catalog.CatalogueBuilder._record``.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Callable, Literal, NamedTuple


class Record(NamedTuple):
    """One product as a feed prints it. The fields between ``id`` and
    ``stock_or_zero`` are the configurable columns, in Hub's documented order."""

    sku: str            #: ``product_code``; always the first column of a file
    id: int             #: Hub's product id: deduplication and the second sort key
    stock: str          #: positive stock, else empty
    mpn: str            #: ``mpn``, else ``product_code``
    price: str          #: two decimals, rounded half-up; empty for null
    rrp: str            #: as ``price``
    vendor: str         #: the vendor's name from ``GET /vendors``
    name: str
    ean: str
    stock_or_zero: str  #: ``stock`` with ``show_empty_stock``: empty stock of a physical product is 0


_NOT_COLUMNS = ("sku", "id", "stock_or_zero")
#: the columns a feed may list after the SKU (SPEC §2), in Hub's order
COLUMNS: tuple[str, ...] = tuple(name for name in Record._fields if name not in _NOT_COLUMNS)
Column = Literal[COLUMNS]  # type: ignore[valid-type]

SKU = Record._fields.index("sku")
ID = Record._fields.index("id")
PRICE = Record._fields.index("price")
STOCK = Record._fields.index("stock")


def row_picker(columns: tuple[str, ...], show_empty_stock: bool) -> Callable[[Record], tuple[str, ...]]:
    """A function that picks a feed's row out of a record: the SKU, then ``columns`` in order."""
    names = ["sku"] + [("stock_or_zero" if show_empty_stock else "stock") if c == "stock" else c for c in columns]
    positions = [Record._fields.index(name) for name in names]
    pick = itemgetter(*positions)
    if len(positions) == 1:
        return lambda record: (pick(record),)
    return pick  # type: ignore[return-value]
