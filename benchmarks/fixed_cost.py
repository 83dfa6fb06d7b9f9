"""What any run on feeds' libraries costs before it looks at a product: the benchmark's lower bound.

    python fixed_cost.py BASE_URL CONCURRENCY

Python with the libraries a feeds run loads, a token, and every page of
products read over HTTP, CONCURRENCY at a time as feeds reads them, kept as
bytes: no decoding, no rows, no file. The same tricks feeds uses at start and
exit are applied (httpx's command line skipped, the last collections spared),
so this is what is left when every product costs nothing. Prints the bytes
read.
"""

import gc
import importlib
import sys
from concurrent.futures import ThreadPoolExecutor

for unused in ("httpx._main", "invoke"):  # as feeds/__init__.py
    sys.modules.setdefault(unused, None)

# the libraries of a run (python -X importtime -m feeds.cli run ...), loaded as a run loads them
for library in ("click", "httpx", "msgspec", "orjson", "paramiko", "pydantic", "sqlalchemy", "tenacity"):
    importlib.import_module(library)
import httpx  # noqa: E402

base, concurrency = sys.argv[1], int(sys.argv[2])
with httpx.Client(timeout=120) as http:
    token = http.post(base + "/oauth/create_token", data={"client_id": "sandbox", "client_secret": "sandbox-secret",
                                                   "grant_type": "client_credentials"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def page(number: int) -> httpx.Response:
        return http.get(base + "/products", params={"page": number, "per_page": 1000, "sort_by": "+name"},
                        headers=headers)

    first = page(1)
    total = int(first.headers["X-Total-Pages"])
    with ThreadPoolExecutor(concurrency) as pool:
        size = len(first.content) + sum(len(answer.content) for answer in pool.map(page, range(2, total + 1)))
print(size)
gc.freeze()  # as feeds.collector.at_exit
