"""feeds: stock and price feeds for Hub, rendered to the byte and delivered on time."""

__version__ = "0.1.0"

import sys

# Optional parts of libraries that load themselves whenever they are installed, and that feeds never uses:
# httpx's command line (``httpx._main``: rich, pygments and click) and invoke, which paramiko's OpenSSH config
# reader loads for ``Match exec`` (feeds reads no OpenSSH config). Together about 0.08 s of every feeds process
# and of each of the daemon's worker processes. Marked absent, each library takes its own fallback (a stub
# ``httpx.main``; ``Match exec`` refused); the ``httpx`` command and invoke's users run in processes of their own.
for _unused in ("httpx._main", "invoke"):
    sys.modules.setdefault(_unused, None)
