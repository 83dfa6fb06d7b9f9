"""How a feeds process uses Python's garbage collector.

A run makes a record per product, a hundred thousand small tuples and more,
and no reference cycles of its own. With Python's defaults (a collection every
700 new objects) a 100k-product run spent about 0.15 s, a tenth of it, in 270
young collections and two full ones that walked the catalogue built so far.
Collecting every ``YOUNG`` new objects instead leaves about 20 collections and
no full one, for about 3 MB more at the peak (``docs/benchmarks.md``).
"""

from __future__ import annotations

import gc

#: new objects between two young collections (Python's default: 700)
YOUNG = 10_000


def for_catalogues() -> None:
    """Set once where a process starts: the command line and each worker process of the daemon."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)


def at_exit() -> None:
    """Where a process is about to end: what it made goes with it, so the interpreter's last collections need not
    walk it (SQLAlchemy's, pydantic's and paramiko's classes, a catalogue): about 0.1 s of every command.
    Files are closed and logs flushed before this point."""
    gc.freeze()
