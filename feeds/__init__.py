"""feeds: stock and price feeds for Hub, rendered to the byte and delivered on time."""

__version__ = "0.1.0"

import sys

# httpx loads its command line (``httpx._main``: rich, pygments and click) whenever those are installed, as they
# are here: a twentieth of a second of every feeds process, which never uses it. Marked absent, it is skipped
# and ``httpx.main`` is httpx's own stub; the ``httpx`` command runs in its own process and keeps it.
sys.modules.setdefault("httpx._main", None)
