"""The daemon's web server against idle and slow clients, and on IPv6 (SPEC §13), with real sockets on loopback.

A connection that sends no complete request within the request timeout is
closed (here 1 s, injected; 10 s in the daemon), whether it sends nothing,
half a request, or a byte now and then; the connections served at once are
bounded, and the threads stay a fixed few however many clients wait.
"""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from feeds import wiring
from feeds.metrics import Metrics, serve
from feeds.webserver import THREADS

from delivery_helpers import make_settings


def healthy() -> tuple[bool, dict]:
    return True, {"last_wake": None}


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` (an empty read, or a reset) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass  # an error answer (408, 400) before the close is fine
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def read_answer(sock: socket.socket) -> bytes:
    """One HTTP answer with its Content-Length body, however the bytes arrive."""
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_idle_and_half_requests_are_closed_after_the_timeout_and_threads_stay_bounded():
    before = threading.active_count()
    server = serve(Metrics(), healthy, "127.0.0.1", 0, request_timeout=1, connection_limit=100)
    port = server.server_address[1]
    clients = []
    try:
        for n in range(300):
            sock = socket.create_connection(("127.0.0.1", port))
            if n % 2:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")  # half a request
            clients.append(sock)
        time.sleep(0.5)
        assert threading.active_count() <= before + THREADS + 1  # the workers and the loop, not one per client
        # Connections beyond the limit wait in the backlog; each is closed a second after it is taken up.
        assert all(closed_by_server(sock, within=15) for sock in clients)
        assert threading.active_count() <= before + THREADS + 1
        # The server still answers.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        for sock in clients:
            sock.close()
        server.shutdown()
    assert threading.active_count() <= before + 1  # the shutdown stops the workers and the loop


def test_a_client_sending_a_byte_now_and_then_is_closed_too():
    server = serve(Metrics(), healthy, "127.0.0.1", 0, request_timeout=1)
    try:
        sock = socket.create_connection(("127.0.0.1", server.server_address[1]))
        request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
        start, sent = time.monotonic(), 0  # the trickle would take 20 s; it is cut at 10
        with sock:
            try:
                while sent < len(request) and time.monotonic() - start < 10:
                    sock.sendall(request[sent:sent + 1])  # never idle for the timeout, never complete
                    sent += 1
                    time.sleep(0.2)
            except (BrokenPipeError, ConnectionResetError):
                pass
            assert closed_by_server(sock, within=1)
    finally:
        server.shutdown()


def test_a_keep_alive_connection_serves_requests_and_then_closes_when_idle():
    server = serve(Metrics(), healthy, "127.0.0.1", 0, request_timeout=1)
    try:
        with socket.create_connection(("127.0.0.1", server.server_address[1])) as sock:
            for _ in range(3):
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                answer = read_answer(sock)
                assert answer.startswith(b"HTTP/1.1 200 OK") and b'"status": "ok"' in answer
                time.sleep(0.5)  # under the timeout: the connection stays
            assert closed_by_server(sock, within=5)
    finally:
        server.shutdown()


def test_the_daemon_serves_on_ipv6_loopback(tmp_path):
    server = serve(Metrics(), healthy, "::1", 0)
    try:
        assert server.server_address[0] == "::1" and isinstance(server.server_address[1], int)
        assert httpx.get(f"http://[::1]:{server.server_address[1]}/healthz").json()["status"] == "ok"
    finally:
        server.shutdown()
    for host in ("::1", "[::1]"):  # what --web-host passes, through the daemon's own start
        service = wiring.service(make_settings(tmp_path), web_port=0, web_host=host)
        try:
            port = service.server.server_address[1]
            assert httpx.get(f"http://[::1]:{port}/").status_code == 200
        finally:
            service.server.shutdown()
            service.daemon.stop(0)
            service.daemon.ledger.close()


def test_a_host_that_cannot_be_listened_on_is_one_sentence(tmp_path):
    from feeds.errors import UsageError

    with pytest.raises(UsageError, match=r"--web-port 0 cannot be used on no-such-host\.invalid: "):
        wiring.service(make_settings(tmp_path, web={"token": "a-token-of-twenty-chars"}), web_port=0,
                       web_host="no-such-host.invalid")
