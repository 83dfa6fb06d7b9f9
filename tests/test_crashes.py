"""SIGKILL at chosen points of a daemon run, then a restart (failpoints, real processes).

The daemon does the work in its worker processes; a failpoint kills the
daemon and, with it, its workers. The slot's feed is delivered exactly once,
wherever the crash fell: a file that was already renamed into place when the
daemon died is found there by the restarted daemon and not sent again. The
ledger stays readable throughout.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from processes import FEEDS, DaemonProcess, current_slot, history, sandbox_process, settings_for, upload, wait_for
from servers import FtpServer


@pytest.fixture(scope="module")
def sandbox_base():
    with sandbox_process(products=5000) as base:  # more than one render chunk: the render failpoint fires
        yield base


@pytest.mark.parametrize("point", ["fetch", "render", "upload", "ledger"])
def test_sigkill_then_restart(tmp_path, sandbox_base, point):
    root = tmp_path / "ftp"
    root.mkdir()
    with FtpServer(root) as server:
        conf = settings_for(tmp_path, sandbox_base, outbox=False)
        feed_id = upload(conf, {"organisation": 1, "name": f"crash at {point}", "timeslot": current_slot(),
                                "columns": ["name", "price"], "delivery_method": "FTP", "delivery_procotol": "FTP",
                                "delivery_server": "127.0.0.1", "delivery_port": server.port,
                                "delivery_user": server.user, "delivery_password": server.password,
                                "filename": "stock.csv"}, tmp_path)
        expected = subprocess.run([FEEDS, "--config", str(conf), "run", "--id", str(feed_id), "--dry-run"],
                                  capture_output=True, timeout=60).stdout
        crashing = DaemonProcess(conf, tmp_path / "crash.log", env={**os.environ, "FEEDS_FAILPOINT": point})
        assert crashing.wait(60) == -signal.SIGKILL

        runs = [r for r in history(conf) if r["feed_id"] == feed_id]  # the ledger is readable after the crash,
        assert [r["status"] for r in runs] == ["failed"] and "abandoned" in runs[0]["error"]  # and settled by it
        renames_before = server.commands.count("RNTO")
        assert renames_before == (1 if point == "ledger" else 0)

        restarted = DaemonProcess(conf, tmp_path / "restart.log")
        wait_for(lambda: any(r["status"] == "delivered" for r in history(conf) if r["feed_id"] == feed_id),
                 what="the delivery after the restart")
        assert restarted.stop() == 0

        runs = sorted((r for r in history(conf) if r["feed_id"] == feed_id), key=lambda r: r["run_id"])
        assert server.files() == {"stock.csv": expected}  # complete, and no temporary file left
        assert server.commands.count("RNTO") == 1  # sent once
        if point == "ledger":  # renamed into place, not recorded: the restart finds it there
            assert [r["status"] for r in runs] == ["delivered"] and runs[0]["error"] is None
        else:
            assert [r["status"] for r in runs] == ["failed", "delivered"]
            assert "abandoned" in runs[0]["error"]
