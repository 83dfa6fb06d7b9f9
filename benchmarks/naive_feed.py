"""The script a user would write instead of feeds (the benchmark's baseline).

Sequential page reads with httpx, csv.writer, paramiko's put:

    python naive_feed.py BASE_URL SFTP_HOST SFTP_PORT USER PASSWORD REMOTE_PATH
"""

import csv
import sys
import tempfile

import httpx
import paramiko

from naive_rows import row

base, host, port, user, password, remote = sys.argv[1:7]
with httpx.Client(timeout=120) as http:
    token = http.post(base + "/oauth/create_token", data={"client_id": "sandbox", "client_secret": "sandbox-secret",
                                                   "grant_type": "client_credentials"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    rows = []
    page = 1
    while True:
        items = http.get(base + "/products", params={"page": page, "per_page": 1000, "sort_by": "+name"}, headers=headers).json()
        rows.extend(r for r in map(row, items) if r is not None)
        if len(items) < 1000:
            break
        page += 1
rows.sort(key=lambda row: row[0])
with tempfile.NamedTemporaryFile("w", newline="", encoding="utf-8", suffix=".csv", delete=False) as handle:
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow(["sku", "name", "stock", "price"])
    writer.writerows(rows)
transport = paramiko.Transport((host, int(port)))
transport.connect(username=user, password=password)
sftp = paramiko.SFTPClient.from_transport(transport)
sftp.put(handle.name, remote)
transport.close()
print(len(rows))
