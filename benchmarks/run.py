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
3. One slot of 200 feeds (20 organisations, mixed methods, outbox) on a 20k
   catalogue. Targets: the catalogue read once, under 60 s.
4. A 1M-product dry run. Target: under 1 GB peak RSS.
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

import httpx

HERE = Path(__file__).resolve().parent
FEEDS = str(Path(sys.executable).parent / "feeds")
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB, and stdout of one process."""
    out, err = cwd / "stdout.txt", cwd / "stderr.txt"
    with out.open("wb") as o, err.open("wb") as e:
        start = time.perf_counter()
        process = subprocess.Popen(cmd, stdout=o, stderr=e, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({process.returncode}):\n{err.read_text()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out.read_text()


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
        token = httpx.post(self.base + "/oauth/token", data={"client_id": "sandbox", "client_secret": "sandbox-secret",
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
                answer = http.get(self.base + "/products", params={"page": page, "per_page": 1000})
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
    if extra.get("outbox"):
        lines.append(f'[delivery]\noutbox = "{extra["outbox"]}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def one_feed(products: int, latency_ms: float, work: Path, sftp: Sftp, with_floor: bool, with_naive: bool = True,
             concurrency: tuple[int, ...] = (4,)) -> dict:
    sandbox = Sandbox(products, latency_ms, work)
    try:
        feed_id = sandbox.add_feed({
            "organisation": 9, "name": "bench", "timeslot": 0, "columns": ["name", "stock", "price"],
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
        shutil.rmtree(pages, ignore_errors=True)
        return result
    finally:
        sandbox.stop()


def slot(feeds_count: int, products: int, work: Path) -> dict:
    sandbox = Sandbox(products, 0, work)
    try:
        now = datetime.now(timezone.utc)
        if (30 - now.minute % 30) * 60 - now.second < 90:
            time.sleep((30 - now.minute % 30) * 60 - now.second + 1)
            now = datetime.now(timezone.utc)
        timeslot = (now.hour * 60 + now.minute) // 30 * 30
        base = {"timeslot": timeslot, "columns": ["name", "stock", "price", "vendor", "mpn", "ean"]}
        methods = [
            {"delivery_method": "EMAIL", "delivery_email": "bench@example.com"},
            {"delivery_method": "FTP", "delivery_procotol": "FTP", "delivery_server": "ftp.example.com",
             "delivery_user": "u", "delivery_password": "p"},
            {"delivery_method": "FTP", "delivery_procotol": "SFTP", "delivery_server": "sftp.example.com",
             "delivery_user": "u", "delivery_password": "p", "escape_method": "ESCAPED", "delimiter": "SEMI_COLON"},
            {"delivery_method": "SITC", "sitc_confirm": True, "sitc_filename": "sitc.csv"},
        ]
        for i in range(feeds_count):
            sandbox.add_feed({**base, **methods[i % len(methods)], "organisation": 100 + i // 10, "name": f"slot {i}"})
        conf = settings(work, sandbox.base, outbox=str(work / "outbox"))
        with conf.open("a") as handle:
            handle.write('[sitc]\nhost = "sitc.example.com"\n')
        before = sandbox.counts()
        wall, rss, out = measure([PY, str(HERE / "slot.py"), str(conf)], work)
        after = sandbox.counts()
        outcome = json.loads(out)
        requests = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
        return {"wall": wall, "rss": rss, "requests": requests, **outcome}
    finally:
        sandbox.stop()


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
    args = parser.parse_args()
    big, slot_products, slot_feeds, huge = (100_000, 20_000, 200, 1_000_000)
    if args.quick:
        big, slot_products, slot_feeds, huge = (5_000, 2_000, 20, 20_000)
    work = Path(tempfile.mkdtemp(prefix="feeds-bench-"))
    sftp_root = work / "sftp"
    sftp_root.mkdir()
    sftp = Sftp(sftp_root)
    rows: list[tuple[str, ...]] = []
    met: list[bool] = []
    try:
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
            ("", "feeds", f"{fast['feeds'][0]:.2f}", f"{fast['feeds'][1]:.0f}", f"{ratio:.2f}x floor (target <= 2x)", "met" if met[-1] else "NOT MET"),
        ]
        large = one_feed(huge, 0, work, sftp, with_floor=True, with_naive=False)
        rows += [
            (f"1 feed, {huge:,} products, no latency, SFTP", "floor (JSON + csv.writer)", f"{large['floor'][0]:.2f}", f"{large['floor'][1]:.0f}", "", ""),
            ("", "feeds", f"{large['feeds'][0]:.2f}", f"{large['feeds'][1]:.0f}", f"{large['feeds'][0] / large['floor'][0]:.2f}x floor (per-product cost)", "(for comparison)"),
        ]
        one_slot = slot(slot_feeds, slot_products, work)
        product_pages = one_slot["requests"].get("GET /products", 0)
        expected_pages = -(-slot_products // 1000)
        met.append(product_pages == expected_pages and one_slot["wall"] < 60 and one_slot["delivered"] == slot_feeds)
        hub_requests = sum(one_slot["requests"].values())
        rows.append((f"1 slot, {slot_feeds} feeds, {slot_products:,} products, outbox", "feeds daemon wake",
                     f"{one_slot['wall']:.2f}", f"{one_slot['rss']:.0f}",
                     f"{hub_requests} Hub requests, {product_pages} product pages ({expected_pages} = once), "
                     f"{one_slot['delivered']}/{slot_feeds} delivered (target < 60 s, catalogue once)",
                     "met" if met[-1] else "NOT MET"))
        wall, rss = dry_run(huge, work)
        met.append(rss < 1024)
        rows.append((f"dry run, {huge:,} products", "feeds run --dry-run", f"{wall:.2f}", f"{rss:.0f}",
                     "target < 1024 MB peak RSS", "met" if met[-1] else "NOT MET"))
    finally:
        sftp.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}")
    print()
    print("| scenario | program | wall s | peak RSS MB | measure | target |")
    print("|---|---|---:|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("all targets met" if all(met) else "SOME TARGETS NOT MET")
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
