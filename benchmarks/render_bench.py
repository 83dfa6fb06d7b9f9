"""Rendering speed and memory beside Python's csv.writer (issue: render to the byte).

    python benchmarks/render_bench.py            # 100k and 1M products
    python benchmarks/render_bench.py 20000      # other sizes

For each size it builds one catalogue from the sandbox's generated (awkward)
products, then writes every row of a seven-column feed to /dev/null in each
escape method, and with csv.writer (QUOTE_MINIMAL, CRLF) for the same rows in
the same run. Time is the best of three; memory is the peak of what the
rendering allocates (tracemalloc, in a separate untimed pass). Target: every
escape method at least 0.7x csv.writer's rows/s.
"""

from __future__ import annotations

import csv
import os
import sys
import time
import tracemalloc

from feeds.catalog import CatalogueBuilder
from feeds.config import FeedConfig
from feeds.hub.sandbox.data import VENDORS, products
from feeds.render import render

COLUMNS = ["name", "stock", "price", "rrp", "vendor", "mpn", "ean"]
TARGET = 0.7


def catalogue_of(count: int):
    builder = CatalogueBuilder({v["id"]: v["name"] for v in VENDORS})
    step = 10_000
    for start in range(0, count, step):
        builder.add(products(7, start, min(count, start + step)))
    return builder.build(None)


def feed(method: str) -> FeedConfig:
    return FeedConfig.model_validate(dict(
        organisation=1, name="bench", timeslot=0, columns=COLUMNS, delivery_method="EMAIL",
        delivery_email="bench@example.com", escape_method=method))


def ours(catalogue, method: str) -> None:
    config = feed(method)
    with open(os.devnull, "wb") as sink:
        render(catalogue.rows(config), sink, header=["sku", *COLUMNS], delimiter="COMMA", escape_method=method)


def csv_writer(catalogue, method: str = "QUOTED") -> None:
    config = feed(method)
    with open(os.devnull, "w", encoding="utf-8", newline="") as sink:
        writer = csv.writer(sink, lineterminator="\r\n")
        writer.writerow(["sku", *COLUMNS])
        writer.writerows(catalogue.rows(config))


def best_of(fn, *args, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def peak_bytes(fn, *args) -> int:
    tracemalloc.start()
    fn(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main(sizes: list[int]) -> int:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print()
    print("| products | writer | seconds | rows/s | vs csv.writer | peak memory while rendering |")
    print("|---:|---|---:|---:|---:|---:|")
    failed = False
    for size in sizes:
        catalogue = catalogue_of(size)
        rows = len(catalogue.records)
        baseline = best_of(csv_writer, catalogue)
        entries = [("csv.writer", baseline, peak_bytes(csv_writer, catalogue))]
        for method in ("QUOTED", "ESCAPED", "STRIPPED"):
            entries.append((f"feeds {method}", best_of(ours, catalogue, method), peak_bytes(ours, catalogue, method)))
        for name, seconds, peak in entries:
            ratio = baseline / seconds
            mark = "" if name == "csv.writer" or ratio >= TARGET else " (below target)"
            failed |= bool(mark)
            print(f"| {size:,} | {name} | {seconds:.3f} | {rows / seconds:,.0f} | {ratio:.2f}x{mark} | {peak / 1e6:.1f} MB |")
    print()
    print(f"target: every escape method at least {TARGET}x csv.writer's rows/s: {'NOT MET' if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    sys.exit(main(sizes))
