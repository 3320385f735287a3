"""Plain HTTP audio streams, for media players and devices that speak no WebSocket.

- ``GET /stream/NAME.ogg`` (Ogg Opus) and ``GET /stream/NAME.mp3`` (MP3 128 kbps): a station,
  endless, in the manner of Icecast. A new listener gets the cached Ogg header pages, then the
  live pages (the same bytes objects every listener of the format gets).
- ``GET /stream.ogg?preset=sleep&seed=7`` (and ``.mp3``; key, mode, bpm, intensity, preset,
  seed as on the WebSocket): a personal stream, not interactive, one render per listener.

Headers: ``Content-Type``, ``Cache-Control: no-cache``, ``icy-name``, ``icy-description``; with
``Icy-MetaData: 1`` in the request, ``icy-metaint`` and a metadata block every ``metaint`` bytes
(``StreamTitle='station — chord';``, sent when it changes).

Every send is bounded (`send_timeout_s`): a player that stops reading blocks only its own
response, falls behind the station's ring and is dropped (its connection cut), without slowing
the station or anyone else. Each response is one of the hub's listeners (counted in
``active_connections``; ended cleanly at shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from auralis.server.hub import Hub
from auralis.server.pacer import Pacer
from auralis.server.transport import HTTP_TRANSPORT, RAW_SEND
from auralis.streaming.chunk import CHUNK_SECONDS
from auralis.streaming.fanout import ReaderDropped, SourceClosed

log = logging.getLogger("auralis.server.http_streams")

#: Audio bytes between two ICY metadata blocks.
ICY_METAINT = 16000
#: The longest one send may wait for a player before it is cut.
SEND_TIMEOUT_S = 5.0
#: Kernel send buffer (SO_SNDBUF, doubled by Linux) and asyncio write-buffer bound of each audio
#: response: a few seconds of audio at 96-128 kbps, so a player that stops reading blocks its send
#: soon (autotuning would grow the kernel buffer to 4 MB: minutes of audio).
STREAM_SEND_BUFFER_BYTES = 32768
STREAM_WRITE_BUFFER_BYTES = 16384
#: Time allowed for the final (empty) body message at the end.
END_TIMEOUT_S = 1.0

#: (audio bytes, ICY title or None)
Piece = tuple[bytes, str | None]


def icy_block(title: str | None) -> bytes:
    """One ICY metadata block: a length byte (16-byte units) and ``StreamTitle='...';`` padded
    with zeros; a single zero byte when there is nothing new."""
    if title is None:
        return b"\x00"
    text = "StreamTitle='" + title.replace("'", "\u2019") + "';"
    data = text.encode("utf-8")[: 255 * 16]
    n = -(-len(data) // 16)
    return bytes([n]) + data.ljust(n * 16, b"\x00")


class IcyInterleaver:
    """Splits one listener's audio bytes so a metadata block follows every ``metaint`` bytes."""

    def __init__(self, metaint: int = ICY_METAINT) -> None:
        self.metaint = metaint
        self._left = metaint
        self._sent_title: str | None = None

    def feed(self, data: bytes, title: str | None) -> list[bytes]:
        out: list[bytes] = []
        view = memoryview(data)
        while len(view) >= self._left:
            out.append(bytes(view[: self._left]))
            view = view[self._left :]
            self._left = self.metaint
            new = title if title != self._sent_title else None
            self._sent_title = title if title is not None else self._sent_title
            out.append(icy_block(new))
        if len(view):
            out.append(bytes(view))
            self._left -= len(view)
        return out


def stream_headers(content_type: str, name: str, description: str, metaint: int | None) -> dict[str, str]:
    headers = {
        "content-type": content_type,
        "cache-control": "no-cache",
        "icy-name": _latin1(name),
        "icy-description": _latin1(description),
        "x-content-type-options": "nosniff",
    }
    if metaint is not None:
        headers["icy-metaint"] = str(metaint)
    return headers


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def wants_icy(headers: Any) -> bool:
    return str(headers.get("icy-metadata", "")).strip() == "1"


async def station_pieces(listening: Any, station: str) -> AsyncIterator[Piece]:
    """A station reader's bytes: the cached header pages first, then every packet."""
    reader = listening.reader
    try:
        packet = await reader.next()
        if reader.header:
            yield reader.header, None
        while True:
            title = f"{station} \u2014 {packet.chord}" if packet.chord else station
            yield packet.data, title
            packet = await reader.next()
    except ReaderDropped:
        log.warning("http listener too slow, dropped", extra={"event": "http_slow_client", "station": station})
    except SourceClosed as end:
        if end.error is not None:
            log.warning("station failed under an http listener", extra={"event": "http_station_failed", "station": station})


class _PersonalEvents:
    """The pacer's events for a personal HTTP stream: due chunks go to a queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def chunk(self, chunk: Any) -> None:
        self.queue.put_nowait(chunk)

    def starving(self) -> None:
        pass

    def resumed(self, depth: int) -> None:
        pass

    def overflowed(self, n: int) -> None:
        pass

    def stream_failed(self, error: BaseException) -> None:
        self.queue.put_nowait(None)

    def start_timed_out(self, seconds: float) -> None:
        self.queue.put_nowait(None)


async def personal_pieces(hub: Hub, stream: Any, encoder: Any, title: str) -> AsyncIterator[Piece]:
    """A personal stream's encoded chunks, paced in real time after a short start burst."""
    events = _PersonalEvents()
    pacer = Pacer(stream, events, burst=hub.settings.start_burst, period_s=CHUNK_SECONDS)
    task = asyncio.create_task(pacer.run())
    try:
        header = getattr(encoder, "header", None)
        if header:
            yield header, None
        while True:
            chunk = await events.queue.get()
            if chunk is None:
                return
            yield chunk.frame, title
    finally:
        task.cancel()
        stream.close()


class SendWatch:
    """Bounds the sends of every endless response on one event loop with one timer, instead of a
    task per listener: each tick (at most every second) cuts the listeners whose current send
    has waited longer than their `send_timeout_s`. A task per listener would keep a task, its
    coroutine and frame alive per listener, and make a sleep's future, timer and coroutine per
    listener every second: objects every garbage collection walks (docs/benchmarks.md)."""

    _by_loop: dict[asyncio.AbstractEventLoop, SendWatch] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.listeners: set[HttpListener] = set()
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def of_running_loop(cls) -> SendWatch:
        loop = asyncio.get_running_loop()
        watch = cls._by_loop.get(loop)
        if watch is None:
            watch = cls._by_loop[loop] = cls(loop)
        return watch

    def add(self, listener: HttpListener) -> None:
        self.listeners.add(listener)
        if self._timer is None:
            self._arm()

    def discard(self, listener: HttpListener) -> None:
        self.listeners.discard(listener)

    def _arm(self) -> None:
        period = min(1.0, min(listener.send_timeout_s for listener in self.listeners) / 2)
        self._timer = self.loop.call_later(period, self._tick)

    def _tick(self) -> None:
        self._timer = None
        now = time.monotonic()
        for listener in list(self.listeners):
            listener.check_send(now)
        if self.listeners:
            self._arm()
        else:  # nobody left: the next listener starts a new watch
            SendWatch._by_loop.pop(self.loop, None)


class HttpListener(Response):
    """An endless audio response and one of the hub's listeners (its Listener protocol)."""

    def __init__(
        self,
        hub: Hub,
        pieces: AsyncIterator[Piece],
        headers: dict[str, str],
        *,
        icy: bool,
        on_end: Any = None,
        send_timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        super().__init__(status_code=200, headers=headers)
        # endless: no content-length (HTTP/1.1 chunked, or the body until the connection ends)
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.hub = hub
        self.client_id = uuid.uuid4().hex
        self.stream: Any = None
        self.finished = asyncio.Event()
        self._pieces = pieces
        self._icy = IcyInterleaver() if icy else None
        self._on_end = on_end
        self.send_timeout_s = send_timeout_s
        self._pump: asyncio.Task[None] | None = None
        self._scope_transport: Any = None
        self.bytes_sent = 0
        self._send_started: float | None = None
        self._stuck = False

    # Listener protocol (shutdown)
    def request_close(self, code: int, reason: str, *, flush: bool = True, goodbye: bool = False) -> None:
        if self._pump is not None:
            self._pump.cancel()

    def _transport(self) -> Any:
        return self._scope_transport

    def abort(self) -> None:
        """Cut the connection with a reset (SO_LINGER 0), so the kernel drops what the player
        never read instead of holding it for minutes in FIN-WAIT."""
        transport = self._transport()
        if transport is None or transport.is_closing():
            return
        sock = transport.get_extra_info("socket")
        try:
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        transport.abort()
        log.info("http listener cut", extra={"event": "http_abort", "client_id": self.client_id})

    def _bound_buffers(self) -> None:
        transport = self._transport()
        if transport is None:
            return
        try:
            transport.set_write_buffer_limits(high=STREAM_WRITE_BUFFER_BYTES)
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER_BYTES)
        except (OSError, AttributeError, NotImplementedError) as exc:
            log.warning("send buffer not bounded", extra={"event": "http_sndbuf", "error": str(exc)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._scope_transport = scope.get(HTTP_TRANSPORT)
        self._bound_buffers()
        self.hub.sessions.add(self)
        watch = SendWatch.of_running_loop()
        watch.add(self)
        watcher = asyncio.create_task(self._watch_disconnect(receive))
        cut = False
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            # body chunks skip the middleware wrappers, which act on the response start only
            body_send = scope.get(RAW_SEND, send)
            self._pump = asyncio.create_task(self._run(body_send))
            await asyncio.wait({self._pump, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if not self._pump.done():
                self._pump.cancel()
            try:
                await self._pump
            except asyncio.CancelledError:
                cut = self._stuck
            except TimeoutError:
                cut = True
            if not watcher.done() and not cut:
                try:
                    await asyncio.wait_for(body_send({"type": "http.response.body", "body": b"", "more_body": False}), END_TIMEOUT_S)
                except Exception:
                    cut = True
            if cut:
                self.abort()
        finally:
            watch.discard(self)
            watcher.cancel()
            if self._pump is not None:
                self._pump.cancel()
            await self._pieces.aclose()  # type: ignore[attr-defined]
            if self._on_end is not None:
                self._on_end()
            self.hub.sessions.discard(self)
            self.hub.monitor.count_disconnect()
            # the pump, cancelled, keeps a traceback that holds its frames and so this response:
            # dropped, so reference counting frees both without the garbage collector
            self._pump = None
            self.finished.set()

    async def _watch_disconnect(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    async def _run(self, send: Send) -> None:
        icy = self._icy
        try:
            async for data, title in self._pieces:
                parts = icy.feed(data, title) if icy is not None else [data]
                for part in parts:
                    self._send_started = time.monotonic()
                    await send({"type": "http.response.body", "body": part, "more_body": True})
                    self._send_started = None
                    self.bytes_sent += len(part)
        except asyncio.CancelledError:
            if self._stuck:
                raise TimeoutError("the player stopped reading") from None
            raise

    def check_send(self, now: float) -> None:
        """(`SendWatch`) A send blocked longer than `send_timeout_s` cancels the pump, and the
        connection is cut."""
        started = self._send_started
        if started is not None and now - started > self.send_timeout_s and not self._stuck:
            self._stuck = True
            if self._pump is not None:
                self._pump.cancel()
