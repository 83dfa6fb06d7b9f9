"""An SFTP server (asyncssh) for the benchmarks: prints its port, serves a folder until killed.

    python sftp_server.py FOLDER
"""

import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import SftpServer  # noqa: E402

with SftpServer(Path(sys.argv[1]), user="bench", password="bench-password") as server:
    print(server.port, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)
