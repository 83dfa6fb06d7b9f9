"""The floor: JSON decoding of the same pages plus csv.writer of the rows, no network.

    python floor.py FOLDER_OF_PAGES
"""

import csv
import json
import os
import sys
from pathlib import Path

from naive_rows import row

rows = []
for path in sorted(Path(sys.argv[1]).glob("page-*.json")):
    rows.extend(r for r in map(row, json.loads(path.read_bytes())) if r is not None)
with open(os.devnull, "w", newline="", encoding="utf-8") as sink:
    writer = csv.writer(sink, lineterminator="\r\n")
    writer.writerow(["sku", "name", "stock", "price"])
    writer.writerows(rows)
print(len(rows))
