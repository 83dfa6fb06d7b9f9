"""The benchmark suite: one command, one table.

    python benchmarks/run.py            # the full suite (about 5 minutes on 2 cores)
    python benchmarks/run.py --quick    # smaller sizes, to check that it runs

Needs the test extras (pip install '.[test]'): the SFTP server is asyncssh's.
Every measured program runs in its own process (wall time and peak RSS from
wait4); the Hub sandbox and the SFTP server run in other processes.

1. One feed of 100k products, sandbox at 100 ms per page, delivered to a local
   SFTP server: feeds beside the script a user would write instead
   (benchmarks/naive_feed.py: sequential httpx page reads, csv.writer,
   paramiko put). Target: feeds at most 0.35x the naive wall time.
2. The same with no latency, beside the floor (benchmarks/floor.py: JSON
   decoding of the same pages plus csv.writer, no network). Target: at most 2x.
   Beside them the fixed cost (benchmarks/fixed_cost.py): Python with the
   libraries a run loads, a token and every page read, nothing decoded.
3. One slot of 30 organisations with 4 feeds each (mixed methods, outbox),
   each organisation with its own credentials and its own 10k catalogue,
   sandbox at 50 ms per page, beside a script that reads the 30 catalogues one
   after another (benchmarks/naive_catalogues.py). Targets: all 120 feeds
   delivered, each catalogue read once, at most 0.5x the script's wall time,
   daemon peak RSS at most 500 MB.
4. A 1M-product dry run. Target: under 1 GB peak RSS.

    python benchmarks/run.py --only organisations   # scenario 3 alone (about a minute)
    python benchmarks/run.py --only feeds           # scenarios 1 and 2 alone (about two minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
FEEDS = str(Path(sys.executable).parent / "feeds")
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measured(cmd: list[str], cwd: Path) -> tuple[float, Any, str]:
    """Wall seconds, the rusage wait4 gives (the process and the children it waited for), and stdout."""
    out, err = cwd / "stdout.txt", cwd / "stderr.txt"
    with out.open("wb") as o, err.open("wb") as e:
        start = time.perf_counter()
        process = subprocess.Popen(cmd, stdout=o, stderr=e, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({process.returncode}):\n{err.read_text()[-2000:]}")
    return wall, usage, out.read_text()


def measure(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB, and stdout of one process."""
    wall, usage, out = measured(cmd, cwd)
    return wall, usage.ru_maxrss / 1024, out


class Sandbox:
    def __init__(self, products: int, latency_ms: float, folder: Path):
        self.port = free_port()
        self.process = subprocess.Popen(
            [FEEDS, "sandbox", "--port", str(self.port), "--products", str(products), "--latency", str(latency_ms)],
            stderr=(folder / f"sandbox-{self.port}.log").open("wb"))
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/_sandbox/stats")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        token = httpx.post(self.base + "/oauth/create_token", data={"client_id": "sandbox", "client_secret": "sandbox-secret",
                                                             "grant_type": "client_credentials"}).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def add_feed(self, feed: dict) -> int:
        answer = httpx.post(self.base + "/feeds", json=feed, headers=self.headers)
        answer.raise_for_status()
        return answer.json()["id"]

    def pages(self, folder: Path | None = None) -> int:
        """Read every page once (it warms the sandbox's page cache); keep them for the floor."""
        page, count = 1, 0
        with httpx.Client(headers=self.headers, timeout=300) as http:
            while True:
                answer = http.get(self.base + "/products", params={"page": page, "per_page": 1000, "sort_by": "+name"})
                items = answer.json()
                if folder is not None:
                    (folder / f"page-{page:05d}.json").write_bytes(answer.content)
                count += len(items)
                if len(items) < 1000:
                    return count
                page += 1

    def counts(self) -> dict[str, int]:
        return httpx.get(f"http://127.0.0.1:{self.port}/_sandbox/stats").json()["counts"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class Sftp:
    def __init__(self, folder: Path):
        self.root = folder
        self.process = subprocess.Popen([PY, str(HERE / "sftp_server.py"), str(folder)], stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)


def settings(folder: Path, base: str, concurrency: int = 4, **extra: str) -> Path:
    path = folder / f"feeds-{len(list(folder.glob('feeds-*.toml')))}.toml"
    lines = [f'[hub]\nbase_url = "{base}"\nclient_id = "sandbox"\nclient_secret = "sandbox-secret"\n'
             f'concurrency = {concurrency}',
             '[sftp]\nhost_key_policy = "insecure"',
             f'[state]\ndatabase = "{folder}/state-{path.stem}/feeds.db"']
    # The benchmark's SFTP server is on loopback, which the egress rule denies to organisations' feeds.
    lines.append('[delivery]\nallow_networks = ["127.0.0.0/8"]')
    if extra.get("outbox"):
        lines.append(f'outbox = "{extra["outbox"]}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def one_feed(products: int, latency_ms: float, work: Path, sftp: Sftp, with_floor: bool, with_naive: bool = True,
             concurrency: tuple[int, ...] = (4,)) -> dict:
    sandbox = Sandbox(products, latency_ms, work)
    try:
        feed_id = sandbox.add_feed({
            "organisation": 1, "name": "bench", "timeslot": 0, "columns": ["name", "stock", "price"],
            "delivery_method": "FTP", "delivery_procotol": "SFTP", "delivery_server": "127.0.0.1",
            "delivery_port": sftp.port, "delivery_user": "bench", "delivery_password": "bench-password",
            "filename": "feeds.csv"})
        pages = Path(tempfile.mkdtemp(prefix="pages-", dir=work))
        sandbox.pages(pages if with_floor else None)
        result: dict = {}
        for workers in concurrency:
            conf = settings(work, sandbox.base, concurrency=workers)
            result[f"feeds-{workers}"] = measure([FEEDS, "--config", str(conf), "run", "--id", str(feed_id)], work)[:2]
        result["feeds"] = result[f"feeds-{concurrency[0]}"]
        (sftp.root / "feeds.csv").unlink()
        if with_naive:
            naive_wall, naive_rss, naive_rows = measure(
                [PY, str(HERE / "naive_feed.py"), sandbox.base, "127.0.0.1", str(sftp.port), "bench",
                 "bench-password", "naive.csv"], work)
            result["naive"], result["naive_rows"] = (naive_wall, naive_rss), int(naive_rows)
        if with_floor:
            result["floor"] = measure([PY, str(HERE / "floor.py"), str(pages)], work)[:2]
            result["fixed"] = measure([PY, str(HERE / "fixed_cost.py"), sandbox.base, str(concurrency[0])], work)[:2]
        shutil.rmtree(pages, ignore_errors=True)
        return result
    finally:
        sandbox.stop()


def current_timeslot() -> int:
    """This slot's timeslot, after waiting out a slot that ends within 90 s."""
    now = datetime.now(timezone.utc)
    left = (30 - now.minute % 30) * 60 - now.second
    if left < 90:
        time.sleep(left + 1)
        now = datetime.now(timezone.utc)
    return (now.hour * 60 + now.minute) // 30 * 30


def organisations(count: int, per_organisation: int, products: int, latency_ms: float, work: Path) -> dict:
    """One slot of ``count`` organisations, each with its own credentials and catalogue."""
    process = subprocess.Popen([PY, str(HERE / "org_sandbox.py"), str(count), str(products), str(latency_ms),
                                str(per_organisation), str(current_timeslot())],
                               stdout=subprocess.PIPE, stderr=(work / "org-sandbox.log").open("wb"), text=True)
    try:
        base = f"http://127.0.0.1:{int(process.stdout.readline())}/api/v1"
        stats = base.replace("/api/v1", "/_sandbox/stats")
        # Warm the sandbox's page cache (its own generation costs, not Hub's): one read of every catalogue.
        measure([PY, str(HERE / "naive_catalogues.py"), base, str(count)], work)
        naive_wall, naive_rss, _ = measure([PY, str(HERE / "naive_catalogues.py"), base, str(count)], work)
        conf = settings(work, base, outbox=str(work / "outbox-orgs"))
        text = conf.read_text().replace('client_id = "sandbox"\nclient_secret = "sandbox-secret"\n',
                                        'client_id = "org-1"\nclient_secret = "org-1-secret"\n')
        text += '[sitc]\nhost = "sitc.example.com"\n'
        text += "".join(f'[organisations.{org}]\nclient_id = "org-{org}"\nclient_secret = "org-{org}-secret"\n'
                        for org in range(2, count + 1))
        conf.write_text(text)
        before = httpx.get(stats).json()["counts"]
        wall, rss, out = measure([PY, str(HERE / "slot.py"), str(conf)], work)
        after = httpx.get(stats).json()["counts"]
        requests = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
        return {"wall": wall, "rss": rss, "naive": naive_wall, "requests": requests, **json.loads(out)}
    finally:
        process.terminate()
        process.wait(timeout=10)


def dry_run(products: int, work: Path) -> tuple[float, float]:
    sandbox = Sandbox(products, 0, work)
    try:
        conf = settings(work, sandbox.base)
        wall, rss, _ = measure([FEEDS, "--config", str(conf), "run", "--id", "1", "--dry-run", "--output", os.devnull], work)
        return wall, rss
    finally:
        sandbox.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: check that the suite runs")
    parser.add_argument("--only", choices=["organisations", "feeds"],
                        help="run scenario 3 alone, or scenarios 1 and 2 alone")
    args = parser.parse_args()
    big, orgs, org_products, huge = (100_000, 30, 10_000, 1_000_000)
    if args.quick:
        big, orgs, org_products, huge = (5_000, 4, 2_000, 20_000)
    work = Path(tempfile.mkdtemp(prefix="feeds-bench-"))
    sftp_root = work / "sftp"
    sftp_root.mkdir()
    sftp = Sftp(sftp_root)
    rows: list[tuple[str, ...]] = []
    met: list[bool] = []
    try:
        if args.only != "organisations":
            rows += single_feed_rows(big, huge, work, sftp, met, with_huge=args.only != "feeds")
        if args.only == "feeds":
            return report(rows, met)
        slot = organisations(orgs, 4, org_products, 50, work)
        pages = slot["requests"].get("GET /products", 0)
        expected_pages = orgs * -(-org_products // 1000)
        feeds_count = orgs * 4
        ratio = slot["wall"] / slot["naive"]
        met.append(pages == expected_pages and slot["delivered"] == feeds_count and ratio <= 0.5 and slot["rss"] <= 500)
        rows += [
            (f"1 slot, {orgs} organisations x 4 feeds, {org_products:,} products each, 50 ms/page",
             "script reading the catalogues one after another", f"{slot['naive']:.2f}", "", "", ""),
            ("", "feeds daemon wake (outbox)", f"{slot['wall']:.2f}", f"{slot['rss']:.0f}",
             f"{ratio:.2f}x the script (target <= 0.5x); {pages} product pages ({expected_pages} = each catalogue "
             f"once); {slot['delivered']}/{feeds_count} delivered; target <= 500 MB",
             "met" if met[-1] else "NOT MET"),
        ]
        if args.only != "organisations":
            wall, rss = dry_run(huge, work)
            met.append(rss < 1024)
            rows.append((f"dry run, {huge:,} products", "feeds run --dry-run", f"{wall:.2f}", f"{rss:.0f}",
                         "target < 1024 MB peak RSS", "met" if met[-1] else "NOT MET"))
    finally:
        sftp.stop()
        shutil.rmtree(work, ignore_errors=True)
    return report(rows, met)


def report(rows: list[tuple[str, ...]], met: list[bool]) -> int:
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}")
    print()
    print("| scenario | program | wall s | peak RSS MB | measure | target |")
    print("|---|---|---:|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("all targets met" if all(met) else "SOME TARGETS NOT MET")
    return 0 if all(met) else 1


def single_feed_rows(big: int, huge: int, work: Path, sftp: Sftp, met: list[bool],
                     with_huge: bool = True) -> list[tuple[str, ...]]:
    """Scenarios 1 and 2, and the per-product cost at a million products."""
    rows: list[tuple[str, ...]] = []
    slow = one_feed(big, 100, work, sftp, with_floor=False, concurrency=(4, 8))
    ratio = slow["feeds"][0] / slow["naive"][0]
    met.append(ratio <= 0.35)
    rows += [
        (f"1 feed, {big:,} products, 100 ms/page, SFTP", "naive script", f"{slow['naive'][0]:.2f}", f"{slow['naive'][1]:.0f}", "", ""),
        ("", "feeds (hub.concurrency 4, the default)", f"{slow['feeds'][0]:.2f}", f"{slow['feeds'][1]:.0f}", f"{ratio:.3f}x naive (target <= 0.35x)", "met" if met[-1] else "NOT MET"),
        ("", "feeds (hub.concurrency 8)", f"{slow['feeds-8'][0]:.2f}", f"{slow['feeds-8'][1]:.0f}", f"{slow['feeds-8'][0] / slow['naive'][0]:.3f}x naive", "(for comparison)"),
    ]
    fast = one_feed(big, 0, work, sftp, with_floor=True)
    ratio = fast["feeds"][0] / fast["floor"][0]
    met.append(ratio <= 2.0)
    rows += [
        (f"1 feed, {big:,} products, no latency, SFTP", "floor (JSON + csv.writer)", f"{fast['floor'][0]:.2f}", f"{fast['floor'][1]:.0f}", "", ""),
        ("", "naive script", f"{fast['naive'][0]:.2f}", f"{fast['naive'][1]:.0f}", "", ""),
        ("", "fixed cost (feeds' libraries loaded, every page read, nothing decoded)", f"{fast['fixed'][0]:.2f}",
         f"{fast['fixed'][1]:.0f}", f"{fast['fixed'][0] / fast['floor'][0]:.2f}x floor: the least any run costs",
         "(for comparison)"),
        ("", "feeds", f"{fast['feeds'][0]:.2f}", f"{fast['feeds'][1]:.0f}", f"{ratio:.2f}x floor (target <= 2x); "
         f"{fast['feeds'][0] - fast['fixed'][0]:.2f} s over the fixed cost", "met" if met[-1] else "NOT MET"),
    ]
    if not with_huge:
        return rows
    large = one_feed(huge, 0, work, sftp, with_floor=True, with_naive=False)
    rows += [
        (f"1 feed, {huge:,} products, no latency, SFTP", "floor (JSON + csv.writer)", f"{large['floor'][0]:.2f}", f"{large['floor'][1]:.0f}", "", ""),
        ("", "fixed cost (feeds' libraries loaded, every page read, nothing decoded)", f"{large['fixed'][0]:.2f}",
         f"{large['fixed'][1]:.0f}", f"{large['fixed'][0] / large['floor'][0]:.2f}x floor", "(for comparison)"),
        ("", "feeds", f"{large['feeds'][0]:.2f}", f"{large['feeds'][1]:.0f}", f"{large['feeds'][0] / large['floor'][0]:.2f}x floor (per-product cost)", "(for comparison)"),
    ]
    return rows


if __name__ == "__main__":
    sys.exit(main())
