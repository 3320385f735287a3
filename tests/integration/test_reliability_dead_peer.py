"""Dead connections are found by the keepalive ping: a peer that keeps its TCP connection open
but never answers a ping (a frozen tab, a laptop gone to sleep behind a NAT that keeps the
socket) is closed with 1011 after the ping timeout, and its stream is freed. A live client,
whose pongs come back, streams on through the same pings."""

from __future__ import annotations

import asyncio
import json
import socket
import time

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from tests.support.reliability import connect
from tests.support.server import running_server

PING_INTERVAL_S = 1.0
PING_TIMEOUT_S = 1.0


def _silent_peer(srv, ready: asyncio.Event | None = None) -> tuple[float, int | None, dict[str, int]]:
    """Handshake, then read everything and answer nothing (no pong). Returns the seconds from
    the handshake to the server's close, the close code, and the frames seen by opcode."""
    proto = ClientProtocol(parse_uri(f"{srv.ws_url}/ws/stream"))
    seen: dict[str, int] = {}
    with socket.create_connection(("127.0.0.1", srv.port), timeout=15) as sock:
        request = proto.connect()
        proto.send_request(request)
        sock.sendall(b"".join(proto.data_to_send()))
        opened = None
        while True:
            data = sock.recv(65536)
            if not data:
                proto.receive_eof()
                break
            proto.receive_data(data)
            proto.data_to_send()  # the pongs it would send: dropped, this peer is dead
            for event in proto.events_received():
                if isinstance(event, Response):
                    assert event.status_code == 101, event
                    opened = time.monotonic()
                    continue
                seen[event.opcode.name] = seen.get(event.opcode.name, 0) + 1
                if event.opcode is Opcode.TEXT and seen["TEXT"] == 1:
                    first = json.loads(event.data)
                    assert first["type"] == "status" and first["state"] == "connected", first
    assert opened is not None, "no handshake"
    return time.monotonic() - opened, proto.close_code, seen


async def _live_listener(srv, seconds: float) -> tuple[int, int | None]:
    """A normal client (websockets answers pings): chunks received and the close code, if any."""
    ws = await connect(srv.ws_url)
    chunks, last_seq = 0, -1
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 2))
            if msg["type"] == "audio":
                assert msg["seq"] == last_seq + 1, (msg["seq"], last_seq)
                last_seq, chunks = msg["seq"], chunks + 1
        return chunks, None
    finally:
        await ws.close()


def test_a_peer_that_never_answers_pings_is_closed_and_its_stream_freed():
    env = {"AURALIS_WS_PING_INTERVAL_S": str(PING_INTERVAL_S), "AURALIS_WS_PING_TIMEOUT_S": str(PING_TIMEOUT_S)}
    with running_server(env=env) as srv:
        async def scenario():
            live = asyncio.create_task(_live_listener(srv, 6.0))
            dead = await asyncio.to_thread(_silent_peer, srv)
            # the live listener still streams: only the dead peer's session has ended
            deadline = time.monotonic() + 2.0
            while (active := (await asyncio.to_thread(srv.status))["active_connections"]) != 1:
                assert time.monotonic() < deadline, f"active_connections {active}, expected 1"
                await asyncio.sleep(0.05)
            return await live, dead

        (chunks, live_close), (closed_after_s, code, seen) = asyncio.run(scenario())
        active_after = srv.status()["active_connections"]
        logs = srv.logs()

    print(f"\nsilent peer closed {closed_after_s:.2f} s after the handshake, code {code}, frames {seen}; "
          f"live listener: {chunks} chunks")
    assert code == 1011, (code, seen)
    assert seen.get("PING", 0) >= 1 and seen.get("TEXT", 0) >= 1, seen  # it was pinged while streaming
    assert PING_INTERVAL_S <= closed_after_s < PING_INTERVAL_S + PING_TIMEOUT_S + 3.0, closed_after_s
    # the live client answered every ping and streamed throughout, without a gap (checked above)
    assert live_close is None and chunks >= 50, chunks
    assert active_after == 0
    assert "Traceback" not in logs
