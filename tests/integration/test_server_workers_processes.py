"""`auralis serve --workers 2`: two real worker processes on one port, answering for each other,
a dead worker started again, and SIGTERM ending every process (checked by pid)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import time
from pathlib import Path

import httpx
import psutil
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import ServerProcess, running_server


def _workers_seen(srv: ServerProcess, tries: int = 200) -> set[str]:
    """Worker ids of fresh connections (the kernel spreads them by client port)."""
    seen: set[str] = set()
    for _ in range(tries):
        seen.add(httpx.get(f"{srv.url}/api/status", timeout=5).headers["x-auralis-worker"])
        if len(seen) == 2:
            break
    return seen


def _answers_from_each_worker(srv: ServerProcess, path: str, tries: int = 200) -> dict[str, httpx.Response]:
    answers: dict[str, httpx.Response] = {}
    for _ in range(tries):
        r = httpx.get(f"{srv.url}{path}", timeout=5)
        answers.setdefault(r.headers["x-auralis-worker"], r)
        if len(answers) == 2:
            break
    return answers


def _until(condition, timeout: float = 10.0, step: float = 0.1):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def _ogg_listener(port: int) -> tuple[socket.socket, str]:
    """A raw HTTP listener of /stream/focus.ogg; its worker from the response head."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET /stream/focus.ogg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "connection closed before the response head"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head[:80]
    worker = re.search(rb"(?im)^x-auralis-worker: *(\d+)", head)
    assert worker is not None, head
    return sock, worker.group(1).decode()


def _totals(srv: ServerProcess, expected: int) -> bool:
    answers = _answers_from_each_worker(srv, "/api/status")
    return len(answers) == 2 and all(r.json()["active_connections"] == expected for r in answers.values())


def test_two_workers_serve_one_port_and_answer_for_each_other() -> None:
    with running_server(args=["--workers", "2"], env={"AURALIS_LOG_LEVEL": "info"}) as srv:
        supervisor = psutil.Process(srv.process.pid)
        assert _workers_seen(srv) == {"0", "1"}

        async def listen() -> None:
            sockets: list[socket.socket] = []
            wss = []
            per_worker = {"0": 0, "1": 0}
            try:
                for i in range(60):  # listeners until each worker holds at least two
                    if min(per_worker.values()) >= 2:
                        break
                    if i % 2:
                        sock, worker = _ogg_listener(srv.port)
                        sockets.append(sock)
                    else:
                        ws = await websockets.connect(f"{srv.ws_url}/ws/stream?station=focus&format=opus")
                        wss.append(ws)
                        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
                        assert hello["state"] == "connected" and hello["station"] == "focus"
                        assert isinstance(await asyncio.wait_for(ws.recv(), 10), (bytes, str))
                        worker = ws.response.headers["X-Auralis-Worker"]
                    per_worker[worker] += 1
                assert min(per_worker.values()) >= 2, per_worker
                total = len(sockets) + len(wss)
                # whichever worker answers counts both workers' listeners
                assert await asyncio.to_thread(_until, lambda: _totals(srv, total)), per_worker
                for worker, r in (await asyncio.to_thread(_answers_from_each_worker, srv, "/metrics")).items():
                    fam = {f.name: f for f in text_string_to_metric_families(r.text)}
                    assert fam["auralis_active_connections"].samples[0].value == total, worker
                    stations = sum(s.value for s in fam["auralis_station_listeners"].samples)
                    assert stations == total, worker
                    listeners = {s.labels["transport"]: s.value for s in fam["auralis_station_listeners"].samples
                                 if s.labels["station"] == "focus" and s.value}
                    assert listeners == {"ws_opus": len(wss), "http_ogg": len(sockets)}
                for worker, r in (await asyncio.to_thread(_answers_from_each_worker, srv, "/api/stations")).items():
                    focus = next(st for st in r.json()["stations"] if st["name"] == "focus")
                    assert focus["listeners"]["websocket"] == len(wss), worker
                    assert focus["listeners"]["http"] == len(sockets), worker
                before = srv.metrics()["disconnects"]
            finally:
                for sock in sockets:
                    sock.close()
                for ws in wss:
                    await ws.close()
            assert await asyncio.to_thread(_until, lambda: _totals(srv, 0))
            answers = await asyncio.to_thread(_answers_from_each_worker, srv, "/api/metrics")
            assert len(answers) == 2
            for r in answers.values():
                assert r.json()["disconnects"] >= before + total

        asyncio.run(listen())

        # an operator change taken by one worker reaches the other's copy of the station
        r = httpx.put(f"{srv.url}/api/stations/focus", json={"bpm": 47}, timeout=10)
        assert r.status_code == 200, r.text

        def both_changed() -> bool:
            answers = _answers_from_each_worker(srv, "/api/stations")
            return len(answers) == 2 and all(
                next(st for st in a.json()["stations"] if st["name"] == "focus")["parameters"]["bpm"] == 47
                for a in answers.values()
            )

        assert _until(both_changed, timeout=10)

        # a worker that dies is started again, and the port keeps answering meanwhile
        workers = {p.pid for p in supervisor.children() if "resource_tracker" not in " ".join(p.cmdline())}
        assert len(workers) == 2
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)

        def answered() -> bool:  # a connection queued on the dying worker's socket is reset
            try:
                return httpx.get(f"{srv.url}/api/status", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        assert _until(answered, timeout=5)
        assert _until(lambda: srv.status()["soundfont_loaded"] and _workers_seen(srv) == {"0", "1"}, timeout=90)
        after = {p.pid for p in supervisor.children() if "resource_tracker" not in " ".join(p.cmdline())}
        assert victim not in after and len(after) == 2
        assert "worker died" in srv.logs()

        # SIGTERM ends every process of the server within 5 s; the board is removed
        everyone = [supervisor, *supervisor.children(recursive=True)]
        board = re.search(r'"board":"([^"]+)"', srv.logs())
        took = srv.stop()
        assert took < 5.0, took
        gone, alive = psutil.wait_procs(everyone, timeout=2)
        assert not alive, [p.pid for p in alive]
        assert board is not None and not Path(board.group(1)).exists()


def test_a_taken_port_stops_the_supervisor_with_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # bound by another process's socket (connections refused)
        port = taken.getsockname()[1]
        try:
            with running_server(args=["--workers", "2"], port=port, wait_soundfont=False, timeout=90):
                raise AssertionError("the server started on a taken port")
        except RuntimeError as exc:  # exited during startup
            assert "is taken" in str(exc) and "exited with 1" in str(exc)
