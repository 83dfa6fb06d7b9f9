"""Failpoints: named places where a test can make the process die at once.

``FEEDS_FAILPOINT=<name>`` (not a setting) makes the process kill itself with
SIGKILL when it reaches that place, so that crash tests can stop a real
daemon exactly while it fetches, renders, uploads or writes the ledger, then
check what a restart does. Unset, a failpoint costs one dictionary lookup.

Places: ``fetch`` (a catalogue page read), ``render`` (the file half written),
``upload`` (the whole file on the server under its temporary name),
``ledger`` (delivered, not yet recorded).
"""

from __future__ import annotations

import os
import signal

ENVIRONMENT = "FEEDS_FAILPOINT"
#: the daemon a worker process works for: a failpoint kills the whole daemon, as a crash of the machine would
daemon_pid: int | None = None


def reached(name: str) -> None:
    if os.environ.get(ENVIRONMENT) == name:
        if daemon_pid is not None:
            os.kill(daemon_pid, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
