"""Every core, every machine (SPEC §14): one table per question, measured with real daemons.

    python benchmarks/capacity.py                 # all three, about 6 minutes on 2 cores
    python benchmarks/capacity.py --only cores    # or: fleet, capacity
    python benchmarks/capacity.py --quick         # small sizes: checks that it runs

Each scenario starts the organisations' Hub sandbox (benchmarks/org_sandbox.py,
in its own process: N organisations, each with its own credentials, its own
generated catalogue and 4 feeds of every method due in the current slot) and
real `feeds daemon` processes that deliver to an outbox. The slot's time is
read from the ledger: from the first run's start to the last run's end. CPU
time is the daemons' whole process trees (the daemon and its worker
processes), read from /proc while they run; the sandbox's own work is not in
it. With one daemon, the CPU of the same daemon starting with nothing due
(its imports, its worker processes' start, a wake) is subtracted: a daemon
starts once, not once a slot; with several, the whole trees are shown.

1. cores: one daemon, a CPU-bound slot (no Hub latency), `schedule.processes
   = 1` against the default (the usable CPUs). Target: the default at most
   0.7x the time of one process.
2. fleet: 1, 2 and 3 daemons on one PostgreSQL (a throw-away server, as the
   tests start it), Hub at 50 ms a page: the slot's time, Hub's requests, and
   how often each organisation's catalogue was read.
3. capacity: organisations per slot per core, measured at 10k and 50k
   products (one process: one core), then on paper: cores and machines for
   1,000 and 5,000 organisations in one slot, and what Hub must serve.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the tests' throw-away PostgreSQL server

from run import FEEDS, PY, current_timeslot  # noqa: E402

from feeds import wiring  # noqa: E402
from feeds.ledger import Ledger  # noqa: E402

SLOT_SECONDS = 1800
#: a slot's work should fit in this share of the slot, leaving room for catch-ups and retries
PLANNED_SHARE = 0.5
FEEDS_PER_ORGANISATION = 4


class OrgSandbox:
    """benchmarks/org_sandbox.py in its own process."""

    def __init__(self, organisations: int, products: int, latency_ms: float, work: Path):
        self.process = subprocess.Popen(
            [PY, str(HERE / "org_sandbox.py"), str(organisations), str(products), str(latency_ms),
             str(FEEDS_PER_ORGANISATION), str(current_timeslot())],
            stdout=subprocess.PIPE, stderr=(work / "org-sandbox.log").open("wb"), text=True)
        self.base = f"http://127.0.0.1:{int(self.process.stdout.readline())}/api/v1"  # type: ignore[union-attr]
        self.organisations = organisations
        # Warm the page cache (the sandbox's own generation is not Hub's cost): each catalogue read once.
        subprocess.run([PY, str(HERE / "naive_catalogues.py"), self.base, str(organisations)], check=True,
                       capture_output=True)

    def stats(self) -> dict:
        return httpx.get(self.base.replace("/api/v1", "/_sandbox/stats")).json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def settings(folder: Path, base: str, organisations: int, database: str, processes: int) -> Path:
    tables = "".join(f'[organisations.{org}]\nclient_id = "org-{org}"\nclient_secret = "org-{org}-secret"\n'
                     for org in range(2, organisations + 1))
    path = folder / "feeds.toml"
    path.write_text(f"""
[hub]
base_url = "{base}"
client_id = "org-1"
client_secret = "org-1-secret"
{tables}
[sitc]
host = "sitc.example.com"
[delivery]
outbox = "{folder / 'outbox'}"
[schedule]
processes = {processes}
takeover_seconds = 30
[state]
database = "{database}"
archive_dir = "{folder / 'archive'}"
""")
    return path


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its living descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(children.get(current, []))
    return total


def slot(sandbox: OrgSandbox, work: Path, daemons: int, processes: int, database: str) -> dict:
    """Start ``daemons`` daemons with the slot due; wait until every feed is delivered; what it took."""
    feeds = sandbox.organisations * FEEDS_PER_ORGANISATION
    folder = Path(tempfile.mkdtemp(prefix="slot-", dir=work))
    conf = settings(folder, sandbox.base, sandbox.organisations, database, processes)
    before = sandbox.stats()
    started = [subprocess.Popen([FEEDS, "--config", str(conf), "daemon"], stdout=subprocess.DEVNULL,
                                stderr=(folder / f"daemon{i}.log").open("wb")) for i in range(daemons)]
    cpu_before = {p.pid: 0.0 for p in started}
    runs: list[dict] = []
    deadline = time.monotonic() + 900
    # The ledger is read from here, in this process: a `feeds history` process every half second would take
    # a good part of a core from the daemons on a two-core machine.
    url, ledger = wiring.load_settings(str(conf)).state.database_url, None
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            for p in started:
                cpu_before[p.pid] = max(cpu_before[p.pid], tree_cpu(p.pid))  # the tree only grows
            try:
                ledger = ledger or Ledger(url)
                runs = [run.to_json() for run in ledger.runs.history(limit=100000)]
            except Exception:  # the daemons are still making the ledger's tables
                runs = []
            if sum(r["status"] == "delivered" for r in runs) >= feeds:
                break
        cpu = sum(max(cpu_before[p.pid], tree_cpu(p.pid)) for p in started)
    finally:
        if ledger is not None:
            ledger.close()
        for p in started:
            p.terminate()
        for p in started:
            p.wait(timeout=60)
    after = sandbox.stats()
    idle = idle_cpu(conf, folder) if daemons == 1 else 0.0
    first = min(r["started_at"] for r in runs)
    last = max(r["ended_at"] for r in runs if r["ended_at"])
    seconds = (_stamp(last) - _stamp(first))
    reads = after["catalogue_reads"]
    counts = {k: after["counts"].get(k, 0) - before["counts"].get(k, 0) for k in after["counts"]}
    before_reads = before.get("catalogue_reads", {})
    per_org = [reads.get(str(o), 0) - before_reads.get(str(o), 0) for o in range(1, sandbox.organisations + 1)]
    shutil.rmtree(folder, ignore_errors=True)
    return {"seconds": seconds, "cpu": cpu, "slot_cpu": cpu - idle, "delivered": sum(r["status"] == "delivered" for r in runs),
            "requests": sum(counts.values()), "pages": counts.get("GET /products", 0), "reads": per_org,
            "workers": len({r["worker"] for r in runs if r["status"] == "delivered"})}


def idle_cpu(conf: Path, folder: Path) -> float:
    """A daemon's CPU for starting and waking with nothing due (the slot is delivered): what is not the slot's."""
    daemon = subprocess.Popen([FEEDS, "-v", "--config", str(conf), "daemon"], stdout=subprocess.DEVNULL,
                              stderr=(folder / "idle.log").open("wb"))
    try:
        deadline = time.monotonic() + 120
        while "nothing due" not in (folder / "idle.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # the worker processes' own start is done
        return tree_cpu(daemon.pid)
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)


def _stamp(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def cores(orgs: int, products: int, work: Path) -> tuple[list[tuple[str, ...]], bool]:
    sandbox = OrgSandbox(orgs, products, 0, work)
    try:
        one = slot(sandbox, work, 1, 1, str(work / "cores-1.db"))
        every = slot(sandbox, work, 1, 0, str(work / "cores-all.db"))
    finally:
        sandbox.stop()
    ratio = every["seconds"] / one["seconds"]
    met = ratio <= 0.7 and one["delivered"] == every["delivered"] == orgs * FEEDS_PER_ORGANISATION
    title = f"{orgs} organisations x 4 feeds, {products:,} products each, no Hub latency"
    rows = [(title, "schedule.processes = 1", f"{one['seconds']:.2f}", f"{one['slot_cpu']:.2f}", "", ""),
            ("", f"the default ({os.cpu_count()} usable CPUs)", f"{every['seconds']:.2f}", f"{every['slot_cpu']:.2f}",
             f"{ratio:.2f}x one process (target <= 0.7x)", "met" if met else "NOT MET")]
    return rows, met


def fleet(orgs: int, products: int, work: Path) -> tuple[list[tuple[str, ...]], bool]:
    from postgres import PostgresServer

    server = PostgresServer().start()
    sandbox = OrgSandbox(orgs, products, 50, work)
    rows: list[tuple[str, ...]] = []
    met = True
    try:
        for daemons in (1, 2, 3):
            result = slot(sandbox, work, daemons, 0, server.new_database())
            once = sum(1 for n in result["reads"] if n == 1)
            met &= result["delivered"] == orgs * FEEDS_PER_ORGANISATION and once == orgs
            rows.append((f"{orgs} organisations x 4 feeds, {products:,} products, 50 ms/page" if daemons == 1 else "",
                         f"{daemons} daemon{'s' if daemons > 1 else ''}", f"{result['seconds']:.2f}",
                         f"{result['cpu']:.2f}",
                         f"{result['requests']} Hub requests ({result['pages']} product pages); catalogues read "
                         f"once: {once}/{orgs}; daemons that ran feeds: {result['workers']}",
                         "met" if once == orgs else "NOT MET"))
    finally:
        sandbox.stop()
        server.stop()
    return rows, met


def capacity(sizes: list[tuple[int, int]], work: Path) -> tuple[list[tuple[str, ...]], list[str]]:
    rows: list[tuple[str, ...]] = []
    paper: list[str] = []
    for orgs, products in sizes:
        sandbox = OrgSandbox(orgs, products, 0, work)
        try:
            result = slot(sandbox, work, 1, 1, str(work / f"capacity-{products}.db"))
        finally:
            sandbox.stop()
        per_org = result["slot_cpu"] / orgs
        per_core = SLOT_SECONDS * PLANNED_SHARE / per_org
        pages = result["pages"] / orgs
        rows.append((f"{orgs} organisations x 4 feeds, {products:,} products each", "one process (one core)",
                     f"{result['seconds']:.2f}", f"{result['slot_cpu']:.2f}",
                     f"{per_org:.2f} CPU s per organisation: {per_core:,.0f} organisations per core per slot "
                     f"(using {PLANNED_SHARE:.0%} of the 30 minutes)", ""))
        for total in (1000, 5000):
            need = math.ceil(total / per_core)
            machines = math.ceil(need / (os.cpu_count() or 1))
            rate = total * (pages + 2) / (SLOT_SECONDS * PLANNED_SHARE)  # pages, a token and vendors each
            paper.append(f"- {total:,} organisations of {products:,} products in one slot: {total * per_org:,.0f} CPU "
                         f"seconds, {need} core{'s' if need > 1 else ''} ({machines} machine{'s' if machines > 1 else ''}"
                         f" of {os.cpu_count()} CPUs), Hub serving about {rate:,.1f} requests a second for "
                         f"{SLOT_SECONDS * PLANNED_SHARE / 60:.0f} minutes")
    return rows, paper


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["cores", "fleet", "capacity"])
    args = parser.parse_args()
    orgs, products = (4, 2000) if args.quick else (30, 10_000)
    sizes = [(4, 2000), (2, 5000)] if args.quick else [(30, 10_000), (6, 50_000)]
    work = Path(tempfile.mkdtemp(prefix="feeds-capacity-"))
    rows: list[tuple[str, ...]] = []
    paper: list[str] = []
    met = True
    try:
        if args.only in (None, "cores"):
            found, ok = cores(orgs, products, work)
            rows += found
            met &= ok
        if args.only in (None, "fleet"):
            found, ok = fleet(orgs, products, work)
            rows += found
            met &= ok
        if args.only in (None, "capacity"):
            found, paper = capacity(sizes, work)
            rows += found
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}")
    print()
    print("| scenario | daemons | slot s | CPU s | measure | target |")
    print("|---|---|---:|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if paper:
        print()
        print("On paper, from the figures above:")
        print("\n".join(paper))
    print()
    print("all targets met" if met else "SOME TARGETS NOT MET")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
