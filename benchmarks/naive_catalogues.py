"""The baseline of the organisations benchmark: read each organisation's catalogue one after another.

    python naive_catalogues.py BASE_URL ORGANISATIONS

For each organisation: a token, its vendors, then its product pages in name
order, one request at a time, decoded with json. Prints the products read.
"""

import sys

import httpx

base, organisations = sys.argv[1], int(sys.argv[2])
total = 0
with httpx.Client(timeout=120) as http:
    for org in range(1, organisations + 1):
        token = http.post(base + "/oauth/create_token", data={
            "client_id": f"org-{org}", "client_secret": f"org-{org}-secret", "grant_type": "client_credentials",
        }).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        http.get(base + "/vendors", headers=headers).json()
        page = 1
        while True:
            items = http.get(base + "/products", params={"page": page, "per_page": 1000, "sort_by": "+name"},
                             headers=headers).json()
            total += len(items)
            if len(items) < 1000:
                break
            page += 1
print(total)
