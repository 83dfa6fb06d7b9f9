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


def row(product: dict) -> list | None:
    if not product.get("product_code"):
        return None
    stock, price = product.get("stock"), product.get("price")
    return [product["product_code"], product.get("name") or "",
            stock if isinstance(stock, int) and stock > 0 else "",
            f"{price:.2f}" if isinstance(price, (int, float)) else "",
            product.get("vendor") or "", product.get("mpn") or product["product_code"], product.get("ean") or ""]


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
