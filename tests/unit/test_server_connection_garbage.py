"""A closed connection is freed by reference counting, not left to the garbage collector.

What a listener leaves behind when it goes (its session, its stream or reader, its tasks) must
not sit in reference cycles: cyclic garbage waits for a collection, and a serving process makes
collections rare (`auralis.server.gc_policy`), so each cycle would hold its stream's buffers for
minutes (CI's churn test measures the RSS this costs). Here a real uvicorn serves the app in a
thread of the test process with the collector **disabled**; after personal WebSocket listeners,
station WebSocket listeners and station HTTP listeners have come and gone (closed cleanly and cut),
every one of their sessions and streams must be gone already.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import struct
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from websockets.sync.client import connect

from auralis.server.app import create_app
from auralis.server.hub import Hub
from auralis.server.settings import Settings
from auralis.server.transport import http_protocol, websocket_protocol


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def served(soundfont_path: Path) -> Iterator[tuple[int, Hub]]:
    """A real uvicorn (the server's own protocols) on a free port, in a thread of this process."""
    settings = Settings(soundfont=soundfont_path, max_connections=50)
    app = create_app(settings)
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws_per_message_deflate=False,
        ws=websocket_protocol(settings.ws_send_buffer_bytes),
        http=http_protocol(settings.max_head_bytes, settings.head_timeout_s),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    hub: Hub = app.state.hub
    _wait(lambda: server.started and hub.soundfont_loaded, 60, "the SoundFont")
    try:
        yield port, hub
    finally:
        server.should_exit = True
        thread.join(15)


def _refs(hub: Hub) -> list[tuple[str, weakref.ref[Any]]]:
    """Weak references to every listener the hub holds now, and to what each one holds."""
    refs = []
    for s in list(hub.sessions):
        refs.append((type(s).__name__, weakref.ref(s)))
        for attr in ("stream", "outbox", "telemetry", "changes", "_pump", "_feeder", "_writer", "_pacer", "_receiver"):
            obj = getattr(s, attr, None)
            if obj is not None:
                refs.append((f"{type(s).__name__}.{attr}", weakref.ref(obj)))
    return refs


def _ws_listen(port: int, query: str, playing: threading.Event, release: threading.Event, cut: bool) -> None:
    ws = connect(f"ws://127.0.0.1:{port}/ws/stream?{query}", open_timeout=20, compression=None)
    while not isinstance(ws.recv(timeout=20), bytes):  # until the first audio frame
        pass
    playing.set()
    release.wait(20)
    if cut:  # no close frame: the server finds the connection gone
        ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ws.socket.close()
    else:
        ws.close()


def _http_listen(port: int, path: str, playing: threading.Event, release: threading.Event, cut: bool) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        got = b""
        while b"OggS" not in got:  # the head, then the first Ogg page
            data = sock.recv(65536)
            assert data, "the server closed the stream"
            got += data
        playing.set()
        release.wait(20)
        if cut:  # a reset, not a FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


@pytest.mark.parametrize("kind", ["personal", "station_ws", "station_http"])
def test_a_closed_connection_is_freed_without_the_collector(served: tuple[int, Hub], kind: str) -> None:
    port, hub = served
    listen = {
        "personal": lambda *a: _ws_listen(port, "seed=7&format=opus", *a),
        "station_ws": lambda *a: _ws_listen(port, "station=focus&format=opus", *a),
        "station_http": lambda *a: _http_listen(port, "/stream/focus.ogg", *a),
    }[kind]
    refs: list[tuple[str, weakref.ref[Any]]] = []
    gc.collect()
    gc.disable()
    try:
        for i in range(4):  # closed cleanly, then cut, twice
            playing, release = threading.Event(), threading.Event()
            client = threading.Thread(target=listen, args=(playing, release, i % 2 == 1), daemon=True)
            client.start()
            assert playing.wait(30), "no audio came"
            refs += _refs(hub)
            release.set()
            client.join(30)
            _wait(lambda: not hub.sessions, 10, "the listener to be gone")
        assert any(name in ("ListenerSession", "StationSession", "HttpListener") for name, _ in refs), refs
        deadline = time.monotonic() + 5  # the server's task ends a moment after the hub lets it go
        while any(r() is not None for _, r in refs) and time.monotonic() < deadline:
            time.sleep(0.02)
        alive = sorted({name for name, r in refs if r() is not None})
    finally:
        gc.enable()
    assert not alive, f"left in reference cycles (freed only by a collection): {alive}"
