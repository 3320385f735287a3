"""The request head's limits on a real server (auralis.server.transport): size (431 for HTTP and
the WebSocket handshake), time (silent, half-sent and idle keep-alive connections closed), one
Host, 503 at the connection limit, and no token in the logs."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.support.server import running_server

KIB = 1024


def exchange(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """Send `request` on a new connection; everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)


def closed_within(sock: socket.socket, seconds: float) -> tuple[float | None, bytes]:
    """Seconds until the server closed `sock` (None if still open after `seconds`), and what it sent."""
    started = time.monotonic()
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except TimeoutError:
        return None, data
    except ConnectionResetError:
        pass
    return time.monotonic() - started, data


@pytest.fixture(scope="module")
def server():
    env = {"AURALIS_HEAD_TIMEOUT_S": "1", "AURALIS_KEEP_ALIVE_TIMEOUT_S": "1"}
    with running_server(env=env, wait_soundfont=False) as srv:
        yield srv


def _get(port: int, path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Connection: close\r\n\r\n".encode()


def test_a_head_over_16_kib_gets_431_and_one_under_is_served(server):
    big = f"X-Filler: {'a' * 20 * KIB}\r\n"
    answer = exchange(server.port, _get(server.port, "/api/status", big))
    assert answer.startswith(b"HTTP/1.1 431 ") and b"over 16384 bytes" in answer
    ok = exchange(server.port, _get(server.port, "/api/status", f"X-Filler: {'a' * 12 * KIB}\r\n"))
    assert ok.startswith(b"HTTP/1.1 200 ")
    # a long request line counts as well
    assert exchange(server.port, _get(server.port, "/api/status?" + "q" * 20 * KIB)).startswith(b"HTTP/1.1 431 ")


def test_a_websocket_handshake_over_the_limit_gets_431(server):
    upgrade = (
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    )
    request = (
        f"GET /ws/stream HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{upgrade}"
        f"Cookie: {'c' * 20 * KIB}\r\n\r\n"
    ).encode()
    assert exchange(server.port, request).startswith(b"HTTP/1.1 431 ")
    small = f"GET /ws/stream HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{upgrade}\r\n".encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(small)
        assert sock.recv(4096).startswith(b"HTTP/1.1 101 ")


def test_a_head_split_into_many_pieces_is_counted_whole(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n".encode())
        try:
            for _ in range(40):
                sock.sendall(b"X-Piece: " + b"p" * 1000 + b"\r\n")
                time.sleep(0.005)
        except (BrokenPipeError, ConnectionResetError):
            pass
        _, data = closed_within(sock, 5)
    assert data.startswith(b"HTTP/1.1 431 ")


def test_a_body_larger_than_the_head_limit_is_not_a_head(server):
    body = b"b" * 64 * KIB
    request = (
        f"POST /api/status HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
    assert exchange(server.port, request).startswith(b"HTTP/1.1 405 ")  # the route's answer, not 431


def test_silent_and_half_sent_connections_are_closed(server):
    silent = socket.create_connection(("127.0.0.1", server.port))
    half = socket.create_connection(("127.0.0.1", server.port))
    half.sendall(b"GET /api/sta")
    with silent, half:
        after, data = closed_within(silent, 5)
        assert after is not None and data == b""  # nothing sent, nothing answered
        after, data = closed_within(half, 5)
        assert after is not None and data.startswith(b"HTTP/1.1 408 ")


def test_idle_keep_alive_connection_closed_and_a_slow_next_head_too(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        after, _ = closed_within(sock, 5)
        assert after is not None and after < 3
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /api/status HTTP/1.1\r\n")  # the next request's head, never finished
        after, data = closed_within(sock, 5)
        assert after is not None and b"HTTP/1.1 408 " in data  # after the rest of the first answer


def test_duplicate_host_refused(server):
    request = (
        f"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nHost: evil.example\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    answer = exchange(server.port, request)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"more than one Host header" in answer
    handshake = (
        f"GET /ws/stream HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nHost: evil.example\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ).encode()
    assert exchange(server.port, handshake).startswith(b"HTTP/1.1 400 ")


def test_token_in_an_absolute_form_request_line_is_masked_in_the_log(server):
    secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVl.c2lnbmF0dXJl"
    upgrade = (
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    )
    for target in (f"http://127.0.0.1:{server.port}/ws/stream?token={secret}",
                   f"http://127.0.0.1:{server.port}/ws/stream?seed=1&token={secret}&x=%zz"):
        request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{upgrade}\r\n".encode()
        assert exchange(server.port, request).startswith(b"HTTP/1.1 403 ")  # no such route
    request = (
        f"GET http://127.0.0.1:{server.port}/api/status?token={secret} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\nConnection: close\r\n\r\n"
    ).encode()
    assert exchange(server.port, request).startswith(b"HTTP/1.1 200 ")
    deadline = time.monotonic() + 5
    while server.logs().count("127.0.0.1%3A") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    logs = server.logs()
    assert logs.count("127.0.0.1%3A") >= 2 and "/api/status" in logs  # the lines were written
    assert secret not in logs and "c2VjcmV0" not in logs


def test_connection_limit_answers_503_and_the_budget_is_logged():
    env = {"AURALIS_LIMIT_CONCURRENCY": "16", "AURALIS_HEAD_TIMEOUT_S": "30"}
    with running_server(env=env, wait_soundfont=False) as srv:
        held = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(20)]
        try:
            time.sleep(0.3)
            r = httpx.get(f"{srv.url}/api/status", timeout=10)
            assert r.status_code == 503
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 5
        while httpx.get(f"{srv.url}/api/status", timeout=10).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        logs = srv.logs()
    assert '"event":"fd_limit"' in logs and '"limit_concurrency":16' in logs
