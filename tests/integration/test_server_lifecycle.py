"""Server lifecycle with real processes: capacity, a missing SoundFont, SIGTERM with listeners."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time

import httpx
import websockets

from tests.support.server import running_server


async def _closed(ws: websockets.ClientConnection, timeout: float = 10.0) -> list[dict]:
    """Every message until the server closes the connection."""
    messages = []
    try:
        while True:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
    except websockets.ConnectionClosed:
        return messages


def test_capacity_limit_closes_with_1013() -> None:
    with running_server(env={"AURALIS_MAX_CONNECTIONS": "2"}) as srv:

        async def run() -> tuple[int, str, int]:
            url = f"{srv.ws_url}/ws/stream"
            async with websockets.connect(url) as a, websockets.connect(url) as b:
                for ws in (a, b):
                    assert json.loads(await ws.recv())["state"] == "connected"
                async with websockets.connect(url) as c:
                    await _closed(c)
                    refused = (c.close_code, c.close_reason)
                count = srv.status()["active_connections"]
            return *refused, count

        code, reason, count = asyncio.run(run())
        assert code == 1013 and "capacity" in reason
        assert count == 2


def test_missing_soundfont_keeps_http_up_and_tells_listeners() -> None:
    missing = "/nonexistent/auralis-missing.sf2"
    with running_server(env={"AURALIS_SOUNDFONT": missing}, wait_soundfont=False) as srv:
        deadline = time.monotonic() + 10
        while "soundfont load failed" not in srv.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        status = httpx.get(f"{srv.url}/api/status").json()
        assert status["soundfont_loaded"] is False and status["synthesis_active"] is False
        assert httpx.get(f"{srv.url}/").status_code == 200

        async def run() -> tuple[list[dict], int | None]:
            async with websockets.connect(f"{srv.ws_url}/ws/stream") as ws:
                return await _closed(ws), ws.close_code

        messages, code = asyncio.run(run())
        assert len(messages) == 1
        err = messages[0]
        assert err["type"] == "error" and err["code"] == "SOUNDFONT_LOAD_FAILED"
        assert err["recoverable"] is False and missing in err["message"]
        assert code == 1011


def test_sigterm_with_listeners_closes_1001_and_exits_within_5_s() -> None:
    with running_server() as srv:

        async def run() -> tuple[list[tuple[int | None, list[dict]]], float]:
            url = f"{srv.ws_url}/ws/stream"
            clients = [await websockets.connect(url) for _ in range(3)]
            for ws in clients:
                assert json.loads(await ws.recv())["state"] == "connected"
            await asyncio.sleep(1.0)
            closing = [asyncio.create_task(_closed(ws)) for ws in clients]
            took = await asyncio.to_thread(srv.stop, signal.SIGTERM, 10.0)
            messages = await asyncio.gather(*closing)
            return [(ws.close_code, m) for ws, m in zip(clients, messages)], took

        results, took = asyncio.run(run())
        assert took < 5.0, f"exit took {took:.2f} s"
        for code, messages in results:
            assert code == 1001
            assert messages[-1]["type"] == "status" and messages[-1]["state"] == "disconnected"
        assert srv.process.returncode is not None


def test_a_client_that_stops_reading_is_dropped_without_hurting_others() -> None:
    with running_server(env={"AURALIS_SEND_QUEUE_CHUNKS": "10"}) as srv:

        async def run() -> tuple[list[int], float | None]:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills fast
            sock.connect(("127.0.0.1", srv.port))
            stalled = await websockets.connect(f"{srv.ws_url}/ws/stream", sock=sock, max_queue=1)
            async with websockets.connect(f"{srv.ws_url}/ws/stream") as good:
                await good.recv()
                seqs: list[int] = []
                dropped_after = None
                start = time.monotonic()
                while time.monotonic() - start < 40 and dropped_after is None:
                    msg = json.loads(await asyncio.wait_for(good.recv(), 5))
                    if msg["type"] == "audio":
                        seqs.append(msg["seq"])
                    if msg["type"] == "audio" and msg["seq"] % 10 == 0:
                        status = await asyncio.to_thread(srv.status)
                        if status["active_connections"] == 1:
                            dropped_after = time.monotonic() - start
                for _ in range(10):  # the good listener goes on
                    msg = json.loads(await asyncio.wait_for(good.recv(), 5))
                    seqs.append(msg["seq"])
            stalled.transport.abort()
            return seqs, dropped_after

        seqs, dropped_after = asyncio.run(run())
        assert dropped_after is not None, "the stalled client was never dropped"
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert len(seqs) >= 0.95 * (dropped_after / 0.1)
        assert '"event":"ws_slow_client"' in srv.logs()
