"""The floor of a slot: orjson decoding of every organisation's pages, csv.writer of every feed's rows.

    python slot_floor.py FOLDER FEEDS_PER_ORGANISATION

FOLDER holds one folder per organisation of saved product pages
(``page-*.json``). Each organisation's pages are decoded once and turned
into rows once (the slot's feeds' columns: sku, name, stock, price, vendor,
mpn, ean, with no value rules beyond the naive script's); the rows are then
written by ``csv.writer`` once per feed. No network, no sorting, no
validation: what no program making these files can do without.
"""

import csv
import os
import sys
from pathlib import Path

import orjson

from naive_rows import row as naive_row


def row(product: dict) -> list | None:
    """The naive script's row (sku, name, stock, price) and the slot's other columns: vendor, mpn, ean."""
    first = naive_row(product)
    if first is None:
        return None
    return [*first, product.get("vendor") or "", product.get("mpn") or product["product_code"], product.get("ean") or ""]


folder, feeds = Path(sys.argv[1]), int(sys.argv[2])
written = 0
with open(os.devnull, "w", newline="", encoding="utf-8") as sink:
    for organisation in sorted(p for p in folder.iterdir() if p.is_dir()):
        rows = []
        for path in sorted(organisation.glob("page-*.json")):
            rows.extend(r for r in map(row, orjson.loads(path.read_bytes())) if r is not None)
        for _ in range(feeds):
            writer = csv.writer(sink, lineterminator="\r\n")
            writer.writerow(["sku", "name", "stock", "price", "vendor", "mpn", "ean"])
            writer.writerows(rows)
            written += len(rows)
print(written)
