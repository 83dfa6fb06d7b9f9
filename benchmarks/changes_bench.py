"""The change summary's cost on a feed of 1M rows (SPEC §12): at most 15 % of the run's time, 100 MB of memory.

    python benchmarks/changes_bench.py [ROWS]

1. In this process: a catalogue of ROWS products (default 1,000,000) built
   from Hub-like product objects and rendered, then the change summary as a
   run makes it (the columns, the snapshot kept in the ledger, the merge with
   the previous delivery) against a previous delivery that differs by 1 % of
   prices, 1 % of stock and 0.5 % of SKUs. Memory is the peak traced by
   tracemalloc during the summary alone.
2. A real run: `feeds run` of a ROWS-product feed from the sandbox over HTTP
   into the outbox, twice; the second run (which compares) is timed.
The share is the summary's time over the real run's; over the local work
alone (catalogue and rendering, no Hub) it is shown too, as an upper bound.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from feeds.catalog import CatalogueBuilder
from feeds.changes import Snapshot, columns_of, compare
from feeds.config import FeedConfig
from feeds.render import render_feed

FEEDS = str(Path(sys.executable).parent / "feeds")
FEED = FeedConfig.model_validate({"organisation": 1, "name": "bench", "timeslot": 0, "delivery_method": "EMAIL",
                                  "delivery_email": "b@example.com", "columns": ["name", "stock", "price", "mpn"]})


def products(rows: int, shift: int) -> list[dict]:
    items = []
    for i in range(rows):
        pid = i + shift
        items.append({"id": pid, "product_code": f"SKU-{pid:08d}", "name": f"Product {pid}", "mpn": f"M{pid}",
                      "price": 10 + (pid % 97) + (0.5 if shift and i % 100 == 0 else 0),
                      "stock": 0 if shift and i % 100 == 1 else pid % 50 + 1, "is_shippable": True})
    return items


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    previous = Snapshot.of(build(products(rows, 0)).records)
    items = products(rows, rows // 200)
    start = time.perf_counter()
    catalogue = build(items)
    built = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        render_feed(catalogue, FEED, sink)
    rendered = time.perf_counter()
    blocks = columns_of(catalogue.records)  # as a run does it
    snapshot = Snapshot.of(catalogue.records, blocks)
    changes = compare(previous, blocks, prices=True, stock=True)
    compared = time.perf_counter()
    del blocks
    tracemalloc.start()
    blocks = columns_of(catalogue.records)
    Snapshot.of(catalogue.records, blocks)
    compare(previous, blocks, prices=True, stock=True)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    summary = compared - rendered
    local = summary / (compared - start)
    real_run = real(rows)
    share = summary / real_run
    print("| rows | catalogue s | render s | change summary s | real run s | share of the real run | "
          "share of the local work | summary peak MB | snapshot MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {rows:,} | {built - start:.2f} | {rendered - built:.2f} | {summary:.2f} | {real_run:.2f} | "
          f"{share:.1%} | {local:.1%} | {peak / 2**20:.1f} | {len(snapshot.data) / 2**20:.1f} |")
    print()
    print(f"changes: {changes.short()}")
    met = share <= 0.15 and peak <= 100 * 2**20
    print("all targets met" if met else "SOME TARGETS NOT MET")
    return 0 if met else 1


def real(rows: int) -> float:
    """Wall seconds of the second `feeds run` of a SITC feed of ``rows`` products into the outbox."""
    from run import Sandbox, measure, settings  # the suite's helpers: sandbox process, wait4 timing

    work = Path(tempfile.mkdtemp(prefix="changes-"))
    sandbox = Sandbox(rows, 0, work)
    try:
        sandbox.pages()  # warm the sandbox's page cache, as a database-backed Hub would answer
        conf = settings(work, sandbox.base, outbox=str(work / "outbox"))
        with conf.open("a") as handle:
            handle.write('[sitc]\nhost = "sitc.example.com"\n[guard]\nenabled = false\n')
        measure([FEEDS, "--config", str(conf), "run", "--id", "3"], work)
        return measure([FEEDS, "--config", str(conf), "run", "--id", "3"], work)[0]
    finally:
        sandbox.stop()
        shutil.rmtree(work, ignore_errors=True)


def build(items: list[dict]):
    builder = CatalogueBuilder({})
    for start in range(0, len(items), 1000):
        builder.add(items[start:start + 1000])
    return builder.build(None)


if __name__ == "__main__":
    sys.exit(main())
