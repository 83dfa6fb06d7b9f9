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


def reached(name: str) -> None:
    if os.environ.get(ENVIRONMENT) == name:
        os.kill(os.getpid(), signal.SIGKILL)
