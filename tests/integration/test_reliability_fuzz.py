"""Fuzzing a real server: hypothesis-generated hostile WebSocket frames and query strings, and
schemathesis against /openapi.json. The CI sizes are small; `scripts/reliability.py fuzz` runs
the full 10,000 frames (figures in docs/reliability.md)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.production import HTTPS, auth_headers, make_token, production_env
from tests.support.reliability import (
    generate_hostile_frames,
    generate_hostile_queries,
    run_fuzz,
    run_query_fuzz,
)
from tests.support.server import ServerProcess, running_server

pytestmark = pytest.mark.slow

CI_FRAMES = 2000
CI_QUERIES = 100
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    # The flood limit is lifted so that every frame reaches the parser (the limit has its own tests).
    with running_server(env={"AURALIS_WS_MESSAGE_RATE": "2000/second"}) as srv:
        yield srv


def test_hostile_frames_never_stop_a_stream(server):
    frames = generate_hostile_frames(CI_FRAMES, seed_value=6)
    result = asyncio.run(run_fuzz(server, frames, connections=4))
    report = json.dumps(result.as_dict(), indent=1)
    assert result.server_alive, report
    assert result.suspects == [] and result.closed == [None] * 4, report
    assert result.gaps == 0 and min(result.chunks_after) >= 10, report
    assert result.unanswered_non_telemetry == 0, report
    assert set(result.error_codes) == {"INVALID_MESSAGE"}, report
    assert result.error_log_lines == [], "\n".join(result.error_log_lines[:5])
    assert server.status()["active_connections"] == 0


def test_hostile_query_strings_stream_or_are_refused_with_1008(server):
    result = asyncio.run(run_query_fuzz(server, generate_hostile_queries(CI_QUERIES, seed_value=6)))
    assert result.ok, json.dumps(result.as_dict(), indent=1) + "\n" + "\n".join(result.error_log_lines[:5])
    assert result.streamed > 0 and result.refused_1008 > 0


def _schemathesis(url: str, *headers: str) -> subprocess.CompletedProcess[str]:
    args = [SCHEMATHESIS, "run", f"{url}/openapi.json", "--checks", "not_a_server_error",
            "--max-examples", "100", "--seed", "6"]
    for h in headers:
        args += ["-H", h]
    with tempfile.TemporaryDirectory() as cwd:  # schemathesis keeps a cache in its working directory
        return subprocess.run(args, capture_output=True, text=True, timeout=240, cwd=cwd)


def test_schemathesis_finds_no_server_error(server):
    run = _schemathesis(server.url)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "passed" in run.stdout


def test_schemathesis_finds_no_server_error_in_production():
    env = production_env(AURALIS_RATE_LIMIT_METRICS="100000/minute", AURALIS_RATE_LIMIT_STATUS="100000/minute")
    with running_server(env=env, headers=auth_headers()) as srv:
        run = _schemathesis(srv.url, f"Authorization: Bearer {make_token()}", f"X-Forwarded-Proto: {HTTPS['X-Forwarded-Proto']}")
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        # and unauthenticated, every operation is refused, never a 5xx
        run = _schemathesis(srv.url, f"X-Forwarded-Proto: {HTTPS['X-Forwarded-Proto']}")
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def test_handshake_over_the_line_limit_is_answered_not_left_hanging(server):
    """websockets refuses request lines over 8 KiB without an event; uvicorn alone would leave the
    connection open and unanswered for as long as the client likes (auralis.server.transport)."""
    request = (
        f"GET /ws/stream?seed={'9' * 9000} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request)
        answer = sock.recv(200)
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert sock.recv(200) == b""  # and the server closed the connection
