"""The floor: JSON decoding of the same pages plus csv.writer of the rows, no network.

    python floor.py FOLDER_OF_PAGES
"""

import csv
import json
import os
import sys
from pathlib import Path

rows = []
for path in sorted(Path(sys.argv[1]).glob("page-*.json")):
    for product in json.loads(path.read_bytes()):
        if not product.get("product_code"):
            continue
        stock, price = product.get("stock"), product.get("price")
        rows.append([product["product_code"], product.get("name") or "",
                     stock if isinstance(stock, int) and stock > 0 else "",
                     f"{price:.2f}" if isinstance(price, (int, float)) else ""])
with open(os.devnull, "w", newline="", encoding="utf-8") as sink:
    writer = csv.writer(sink, lineterminator="\r\n")
    writer.writerow(["sku", "name", "stock", "price"])
    writer.writerows(rows)
print(len(rows))
