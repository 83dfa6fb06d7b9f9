"""`feeds validate` on hostile documents (SPEC §11): each about 16 MB, answered within 10 s and 500 MB.

    python benchmarks/hostile_documents.py

Each shape is written to a file and validated by `feeds validate` in its own
process; wall time and peak RSS come from wait4. Prints a table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FEEDS = str(Path(sys.executable).parent / "feeds")
SIZE = 16 * 1024 * 1024 - 1024
FEED = {"organisation": 1, "name": "x", "timeslot": 0, "delivery_method": "EMAIL", "delivery_email": "a@example.com",
        "columns": ["name"]}


def fill(make_item, wrap) -> str:
    """As many items as fit in 16 MB, wrapped into one document."""
    one = json.dumps(make_item(0))
    count = max(1, SIZE // (len(one) + 2))
    text = wrap([make_item(i) for i in range(count)])
    while len(text) > SIZE:
        count = int(count * 0.95)
        text = wrap([make_item(i) for i in range(count)])
    return text


SHAPES = {
    "empty feeds in a list": lambda: fill(lambda i: {}, json.dumps),
    "valid feeds in a list": lambda: fill(lambda i: FEED, json.dumps),
    "one feed, millions of columns": lambda: json.dumps({**FEED, "columns": ["nope"] * (SIZE // 8)}),
    "one feed, unknown fields": lambda: fill(lambda i: (f"delimeter{i}", 1), lambda items: json.dumps(dict(items))),
    "1000 feeds of unknown fields": lambda: json.dumps(
        [{f"unknown{j}": "x" for j in range(880)} for _ in range(1000)]),
    "one name of 16 MB": lambda: json.dumps({**FEED, "name": "x" * SIZE}),
    "a timeslot of 16 MB of digits": lambda: '{"timeslot": ' + "9" * SIZE + "}",
    "nested 100,000 deep": lambda: "[" * 100_000 + "]" * 100_000,
    "a list of 1.9M numbers": lambda: json.dumps(list(range(1_900_000))),
}


def main() -> int:
    if sys.argv[1:2] == ["--write"]:  # in a process of its own: the measured one must not inherit its memory
        Path(sys.argv[3]).write_text(SHAPES[sys.argv[2]]())
        return 0
    work = Path(tempfile.mkdtemp(prefix="hostile-"))
    rows, met = [], True
    for name in SHAPES:
        path = work / "doc.json"
        subprocess.run([sys.executable, __file__, "--write", name, str(path)], check=True)
        size = path.stat().st_size
        start = time.perf_counter()
        process = subprocess.Popen([FEEDS, "validate", str(path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        rss = usage.ru_maxrss / 1024
        ok = wall <= 10 and rss <= 500 and os.waitstatus_to_exitcode(status) in (1, 2)
        met &= ok
        rows.append(f"| {name} | {size / 2**20:.1f} | {wall:.2f} | {rss:.0f} | {len(out) / 1024:.0f} | "
                    f"{'met' if ok else 'NOT MET'} |")
        path.unlink()
    print("| document | MB | wall s | peak RSS MB | output KB | target (10 s, 500 MB) |")
    print("|---|---:|---:|---:|---:|---|")
    print("\n".join(rows))
    print()
    print("all targets met" if met else "SOME TARGETS NOT MET")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
