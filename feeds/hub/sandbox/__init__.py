"""The Hub sandbox: a local stand-in for the Hub API of SPEC §1 (SPEC §9).

- ``api.py``: the API itself, a WSGI application (with its page cache and test instruments);
- ``data.py``: the generated catalogue, deterministic and as awkward as real ones;
- ``faults.py``: the faults it can be told to commit;
- ``store.py``: the built-in sandbox's feeds kept in a file between commands;
- ``server.py``: serving it in process (httpx transport) or over HTTP.
"""

from __future__ import annotations

from .api import (API_PREFIX, CLIENT_ID, CLIENT_SECRET, PER_PAGE_CAP, RESELLER, RESELLER_CLIENT_ID,
                  RESELLER_CLIENT_SECRET, ROOT, TOKEN_PATH, Organisation, Recorded, Sandbox, load_sample_feeds)
from .data import Catalogue
from .faults import CutConnection, Fault
from .store import FeedStore
from .server import RunningSandbox, SandboxTransport, make_server

__all__ = ["API_PREFIX", "CLIENT_ID", "CLIENT_SECRET", "PER_PAGE_CAP", "RESELLER", "RESELLER_CLIENT_ID",
           "RESELLER_CLIENT_SECRET", "ROOT", "TOKEN_PATH", "Catalogue", "CutConnection", "Fault", "FeedStore", "Organisation",
           "Recorded", "RunningSandbox", "Sandbox", "SandboxTransport", "load_sample_feeds", "make_server"]
