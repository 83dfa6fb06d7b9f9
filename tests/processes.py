"""Real `feeds` processes for tests: a sandbox process, daemons, and the commands around them."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import httpx

from conftest import BIN, write_settings
from servers import free_port

FEEDS = str(BIN / "feeds")


def current_slot() -> int:
    """Minutes of the current slot, not within a minute of its end."""
    now = datetime.now(timezone.utc)
    left = (30 - now.minute % 30) * 60 - now.second
    if left < 60:
        time.sleep(left + 1)
        now = datetime.now(timezone.utc)
    return (now.hour * 60 + now.minute) // 30 * 30


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def sandbox_process(products: int = 250) -> Iterator[str]:
    """`feeds sandbox` in its own process; yields its API base URL."""
    port = free_port()
    process = subprocess.Popen([FEEDS, "sandbox", "--port", str(port), "--products", str(products)],
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api/v1"

    def up():
        try:
            return httpx.post(base + "/oauth/create_token", data={"grant_type": "client_credentials"}).status_code == 401
        except httpx.TransportError:
            return False

    try:
        wait_for(up, what="the sandbox")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


#: daemons started by the running test; the conftest kills any left when the test ends
STARTED: list["DaemonProcess"] = []


class DaemonProcess:
    """`feeds -v daemon` with its output in a log file."""

    def __init__(self, conf: Path, log: Path, metrics_port: int | None = None, env: dict[str, str] | None = None):
        STARTED.append(self)
        args = [FEEDS, "-v", "--config", str(conf), "daemon"]
        if metrics_port:
            args += ["--web-port", str(metrics_port)]
        self.log = log
        self.handle = log.open("ab")
        self.process = subprocess.Popen(args, stdout=self.handle, stderr=self.handle, env=env)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout=timeout)
        self.handle.close()
        return code

    def stop(self, sig=signal.SIGTERM, timeout: float = 30) -> int:
        self.process.send_signal(sig)
        return self.wait(timeout)


def settings_for(tmp_path: Path, base: str, outbox: bool = True) -> Path:
    delivery = f'outbox = "{tmp_path / "outbox"}"\nretry_wait = 0' if outbox else "retry_wait = 0\ntimeout = 20"
    return write_settings(tmp_path / "feeds.toml", f"""
[hub]
base_url = "{base}"
client_id = "sandbox"
client_secret = "sandbox-secret"
[organisations.2]
client_id = "reseller"
client_secret = "reseller-secret"
[delivery]
{delivery}
[schedule]
shutdown_grace = 5
[state]
database = "{tmp_path}/state/feeds.db"
""")


def upload(conf: Path, feed: dict, tmp_path: Path) -> int:
    path = tmp_path / "feed.json"
    path.write_text(json.dumps(feed))
    done = subprocess.run([FEEDS, "--config", str(conf), "upload", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[2].rstrip(":"))


def history(conf: Path) -> list[dict]:
    done = subprocess.run([FEEDS, "--config", str(conf), "history", "--json", "--limit", "1000"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
