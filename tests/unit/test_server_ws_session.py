"""How a WebSocket session ends (`auralis.server.ws_session`), shared by personal and station
listeners: one close whatever asks for it, the producers stopped first, a goodbye after every
queued frame, a client that stops reading dropped with 1008 at once, and close reasons that fit
the WebSocket limit. The integration tests (test_server_lifecycle, test_server_stations,
test_reliability_*) drive the same code over real connections."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.websockets import WebSocketState

from auralis.server.ws_session import WebSocketSession, close_reason


class FakeWebSocket:
    """What a session reads of Starlette's WebSocket: its states, scope, sends and close."""

    def __init__(self) -> None:
        self.client_state = WebSocketState.CONNECTED
        self.application_state = WebSocketState.CONNECTED
        self.scope: dict[str, Any] = {}
        self.sent: list[str | bytes] = []
        self.closed: tuple[int, str] | None = None

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.application_state = WebSocketState.DISCONNECTED


class Session(WebSocketSession):
    def __init__(self, ws: FakeWebSocket, limit: int) -> None:
        super().__init__(ws, limit)  # type: ignore[arg-type]
        self.stops = 0

    def _stop_producing(self) -> None:
        self.stops += 1

    def _goodbye_depth(self) -> int:
        return 3


def test_one_close_after_the_queued_frames_with_a_goodbye_last() -> None:
    async def main() -> tuple[Session, FakeWebSocket, int | None]:
        ws = FakeWebSocket()
        s = Session(ws, limit=8)
        s._writer = asyncio.create_task(s.outbox.run())
        s._queue(b"audio-0", audio=True)
        s._queue('{"type":"now"}')
        s.request_close(1001, "station stopped", goodbye=True)
        s.request_close(1011, "a second reason")  # ignored: the first close stands
        s._queue(b"audio-1", audio=True)  # after the close: not queued
        await asyncio.wait_for(s._writer, 2)
        return s, ws, await s._finish_close()

    s, ws, code = asyncio.run(main())
    assert s.stops == 1
    assert ws.sent[:2] == [b"audio-0", '{"type":"now"}']
    goodbye = json.loads(ws.sent[2])
    assert (goodbye["type"], goodbye["state"], goodbye["message"]) == ("status", "disconnected", "station stopped")
    assert goodbye["buffer_depth"] == 3
    assert len(ws.sent) == 3
    assert code == 1001 and ws.closed == (1001, "station stopped")


def test_a_client_that_stops_reading_is_dropped_at_once_with_1008() -> None:
    async def main() -> tuple[Session, FakeWebSocket, bool]:
        ws = FakeWebSocket()
        s = Session(ws, limit=2)
        s._writer = asyncio.create_task(asyncio.sleep(3600))  # a writer blocked on a full socket
        for i in range(3):
            s._queue(f"audio-{i}".encode(), audio=True)
        await asyncio.sleep(0)
        cancelled = s._writer.cancelled()
        await s._finish_close()
        return s, ws, cancelled

    s, ws, cancelled = asyncio.run(main())
    assert s.stops == 1 and cancelled  # no flush: the writer is cancelled, not waited for
    assert ws.closed is not None and ws.closed[0] == 1008 and "too slow" in ws.closed[1]


def test_a_failure_sends_its_error_then_closes() -> None:
    async def main() -> FakeWebSocket:
        ws = FakeWebSocket()
        s = Session(ws, limit=4)
        s._writer = asyncio.create_task(s.outbox.run())
        s._fail("INTERNAL_ERROR", "synthesis failed", 1011)
        await asyncio.wait_for(s._writer, 2)
        await s._finish_close()
        return ws

    ws = asyncio.run(main())
    error = json.loads(ws.sent[-1])
    assert (error["type"], error["code"], error["recoverable"]) == ("error", "INTERNAL_ERROR", False)
    assert ws.closed == (1011, "synthesis failed")


def test_no_close_frame_to_a_client_that_left() -> None:
    async def main() -> FakeWebSocket:
        ws = FakeWebSocket()
        s = Session(ws, limit=4)
        ws.client_state = WebSocketState.DISCONNECTED
        s.request_close(1000, "bye", flush=False)
        await s._finish_close()
        return ws

    assert asyncio.run(main()).closed is None


def test_close_reasons_fit_123_bytes() -> None:
    assert close_reason("station stopped") == "station stopped"
    long = "é" * 100  # 200 bytes of UTF-8
    cut = close_reason(long)
    assert len(cut.encode()) <= 123 and cut.endswith("...") and cut.startswith("é" * 60)
