"""A Hub sandbox of many organisations, each with its own API client and catalogue (benchmarks).

    python org_sandbox.py ORGANISATIONS PRODUCTS LATENCY_MS FEEDS_PER_ORGANISATION TIMESLOT

Organisation i (1..N) has client ``org-i`` / ``org-i-secret``, its own
generated catalogue (seed i) and FEEDS_PER_ORGANISATION feeds due at TIMESLOT,
of every method. Prints the port, then serves until killed.
"""

import sys

from feeds.hub.sandbox import Catalogue, Organisation, Sandbox, make_server

organisations, products, latency_ms, per_organisation, timeslot = map(int, sys.argv[1:6])
sandbox = Sandbox(feeds={}, clients={}, latency=latency_ms / 1000.0)
methods = [
    {"delivery_method": "EMAIL", "delivery_email": "bench@example.com"},
    {"delivery_method": "FTP", "delivery_procotol": "FTP", "delivery_server": "ftp.example.com",
     "delivery_user": "u", "delivery_password": "bench-password"},
    {"delivery_method": "FTP", "delivery_procotol": "SFTP", "delivery_server": "sftp.example.com",
     "delivery_user": "u", "delivery_password": "bench-password", "escape_method": "ESCAPED",
     "delimiter": "SEMI_COLON"},
    {"delivery_method": "SITC", "sitc_confirm": True},
]
for org in range(1, organisations + 1):
    sandbox.add_organisation(Organisation(org, f"Organisation {org}", None if org == 1 else 1,
                                          Catalogue(count=products, seed=org)), f"org-{org}", f"org-{org}-secret")
    for n in range(per_organisation):
        feed_id = len(sandbox.feeds) + 1
        method = dict(methods[n % len(methods)])
        if method["delivery_method"] == "SITC":
            method["sitc_filename"] = f"org{org}-{n}.csv"
        sandbox.feeds[feed_id] = {"id": feed_id, "organisation": org, "name": f"org {org} feed {n}",
                                  "timeslot": timeslot, "columns": ["name", "stock", "price", "vendor", "mpn", "ean"],
                                  **method}
server = make_server(sandbox, "127.0.0.1", 0)
print(server.server_address[1], flush=True)
server.serve_forever()
