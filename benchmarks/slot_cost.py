"""The cost of a slot in CPU time, beside its floor, measured side by side in one run (issue 22).

    python benchmarks/slot_cost.py [--runs 3] [--organisations 30] [--products 10000] [--processes 0]

One slot of ORGANISATIONS organisations x 4 feeds (EMAIL, FTP, SFTP escaped
with semicolons, SITC; six columns; deliveries to the outbox), each with its
own credentials and its own catalogue of PRODUCTS, Hub sandbox without
latency. For each run:

- the daemon: ``slot.py`` (``Daemon.wake`` of the slot, then a stop that
  waits for its worker processes). The slot's CPU seconds (user + system)
  are the daemon's and its worker processes' from the wake to the last run's
  end, once the workers have started (a daemon starts once and serves 48
  slots a day); the whole process tree's from start to exit, from wait4, is
  printed beside it;
- the floor: ``slot_floor.py`` over the same pages saved to disk: orjson
  decoding of the slot's pages and ``csv.writer`` of its feeds' rows.

Prints a table of both and their ratio per run, then min and median.
Target: the slot at most 3x the floor. Runs alternate daemon and floor, so a
machine that slows down in the middle slows both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import PY, current_timeslot, measured, settings  # noqa: E402


def cpu(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """CPU seconds (user + system, the process and the children it waited for), wall seconds, stdout."""
    wall, usage, out = measured(cmd, cwd)
    return usage.ru_utime + usage.ru_stime, wall, out


def save_pages(base: str, organisations: int, folder: Path) -> int:
    """Every organisation's product pages, as Hub sent them (and a warm sandbox page cache)."""
    total = 0
    with httpx.Client(timeout=120) as http:
        for org in range(1, organisations + 1):
            token = http.post(base + "/oauth/create_token", data={
                "client_id": f"org-{org}", "client_secret": f"org-{org}-secret",
                "grant_type": "client_credentials"}).json()["access_token"]
            into = folder / f"org-{org:03d}"
            into.mkdir()
            page = 1
            while True:
                answer = http.get(base + "/products", params={"page": page, "per_page": 1000, "sort_by": "+name"},
                                  headers={"Authorization": f"Bearer {token}"})
                (into / f"page-{page:05d}.json").write_bytes(answer.content)
                count = len(answer.json())
                total += count
                if count < 1000:
                    break
                page += 1
    return total


def slot_settings(work: Path, base: str, organisations: int, processes: int, max_parallel: int = 0) -> Path:
    conf = settings(work, base, outbox=str(work / f"outbox-{time.monotonic_ns()}"))
    text = conf.read_text().replace('client_id = "sandbox"\nclient_secret = "sandbox-secret"\n',
                                    'client_id = "org-1"\nclient_secret = "org-1-secret"\n')
    text += '[sitc]\nhost = "sitc.example.com"\n'
    if processes or max_parallel:
        text += "[schedule]\n" + (f"processes = {processes}\n" if processes else "") \
            + (f"max_parallel = {max_parallel}\n" if max_parallel else "")
    text += "".join(f'[organisations.{org}]\nclient_id = "org-{org}"\nclient_secret = "org-{org}-secret"\n'
                    for org in range(2, organisations + 1))
    conf.write_text(text)
    return conf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--organisations", type=int, default=30)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=0, help="schedule.processes (0: the default, every CPU)")
    parser.add_argument("--max-parallel", type=int, default=0, help="schedule.max_parallel (0: the default)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (the outboxes), and print it")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="feeds-slot-cost-"))
    sandbox = subprocess.Popen([PY, str(HERE / "org_sandbox.py"), str(args.organisations), str(args.products), "0",
                                "4", str(current_timeslot())],
                               stdout=subprocess.PIPE, stderr=(work / "org-sandbox.log").open("wb"), text=True)
    results = []
    try:
        base = f"http://127.0.0.1:{int(sandbox.stdout.readline())}/api/v1"
        pages = work / "pages"
        pages.mkdir()
        products = save_pages(base, args.organisations, pages)
        for _ in range(args.runs):
            conf = slot_settings(work, base, args.organisations, args.processes, args.max_parallel)
            daemon_cpu, daemon_wall, out = cpu([PY, str(HERE / "slot.py"), str(conf)], work)
            floor_cpu, floor_wall, _ = cpu([PY, str(HERE / "slot_floor.py"), str(pages), "4"], work)
            said = json.loads(out)
            results.append((said["slot_cpu"], daemon_cpu, said["wall"], floor_cpu, floor_wall,
                            f"{said['delivered']} delivered, {said['failed']} failed; the daemon's own "
                            f"{said['daemon_cpu']:.2f} CPU s {said['errors'] or ''}".strip()))
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
        if args.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"{args.organisations} organisations x 4 feeds, {products:,} products in all, no latency, "
          f"schedule.processes = {args.processes or 'default'}, schedule.max_parallel = {args.max_parallel or 'default'}")
    print()
    print("| run | slot CPU s | slot wall s | with the daemon's start, CPU s | floor CPU s | floor wall s "
          "| slot / floor | with start / floor | runs |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for n, (s_cpu, d_cpu, s_wall, f_cpu, f_wall, said) in enumerate(results, 1):
        print(f"| {n} | {s_cpu:.2f} | {s_wall:.2f} | {d_cpu:.2f} | {f_cpu:.2f} | {f_wall:.2f} | {s_cpu / f_cpu:.2f}x "
              f"| {d_cpu / f_cpu:.2f}x | {said} |")
    ratios = [s / f for s, _, _, f, _, _ in results]
    print()
    print(f"slot CPU / floor CPU: min {min(ratios):.2f}x, median {statistics.median(ratios):.2f}x (target <= 3x): "
          + ("met" if statistics.median(ratios) <= 3 else "NOT MET"))
    return 0 if statistics.median(ratios) <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
