"""One listener's outbox: the queue of frames to send, its writer, and the slow-client bound.

Frames are ready payloads: text (``str``, protocol v1 JSON) or binary (``bytes``, for example the
binary frames an encoder stage builds). The outbox only forwards them; it never encodes.

A client that stops reading blocks only its own writer. Its backlog grows, and once it holds
``audio_limit`` audio frames (or ``audio_limit + control_backlog`` frames in all) `put` refuses
the frame and returns False: the session then drops the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

#: Control frames (pong, error, params, status) a client may have queued beyond its audio.
CONTROL_BACKLOG = 256

Frame = str | bytes
Send = Callable[[Frame], Awaitable[None]]


class _Close:
    """Queue marker: the writer stops after the frames queued before it."""


class _Audio:
    """An audio frame in the queue (counted against the slow-client bound)."""

    __slots__ = ("frame",)

    def __init__(self, frame: Frame) -> None:
        self.frame = frame


_CLOSE = _Close()


def websocket_send(ws: Any) -> Send:
    """A `Send` for a Starlette WebSocket: text frames for `str`, binary frames for `bytes`."""

    async def send(frame: Frame) -> None:
        if isinstance(frame, bytes):
            await ws.send_bytes(frame)
        else:
            await ws.send_text(frame)

    return send


class Outbox:
    """A FIFO of frames for one connection and the writer that sends them in order."""

    def __init__(self, send: Send, *, audio_limit: int, control_backlog: int = CONTROL_BACKLOG) -> None:
        if audio_limit < 1:
            raise ValueError(f"audio_limit must be at least 1, got {audio_limit}")
        self._send = send
        self.audio_limit = audio_limit
        self.control_backlog = control_backlog
        self._queue: asyncio.Queue[Frame | _Audio | _Close] = asyncio.Queue()
        self._queued_audio = 0
        self._closed = False
        self.send_failed = False  # a send raised: the connection is gone

    @property
    def queued(self) -> int:
        """Frames waiting (audio and control)."""
        return self._queue.qsize()

    @property
    def queued_audio(self) -> int:
        return self._queued_audio

    @property
    def closed(self) -> bool:
        """True once `close` was called: nothing more is queued."""
        return self._closed

    def put(self, frame: Frame, *, audio: bool = False) -> bool:
        """Queue a frame. False (and nothing queued) when the client is too slow: its backlog
        is at the bound. Frames put after `close` are ignored (True)."""
        if not isinstance(frame, (str, bytes)):
            raise TypeError(f"a frame is str or bytes, got {type(frame).__name__}")
        if self._closed:
            return True
        if self._queued_audio >= self.audio_limit or self._queue.qsize() >= self.audio_limit + self.control_backlog:
            return False
        if audio:
            self._queued_audio += 1
            self._queue.put_nowait(_Audio(frame))
        else:
            self._queue.put_nowait(frame)
        return True

    def put_final(self, frame: Frame) -> None:
        """Queue a last control frame (a goodbye) past the bound, just before `close`."""
        if not self._closed:
            self._queue.put_nowait(frame)

    def close(self) -> None:
        """The writer stops after the frames already queued; later `put`s are ignored."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(_CLOSE)

    def _take(self) -> Frame | None:
        item = self._queue.get_nowait()
        return self._unwrap(item)

    def _unwrap(self, item: Frame | _Audio | _Close) -> Frame | None:
        if isinstance(item, _Close):
            return None
        if isinstance(item, _Audio):
            self._queued_audio -= 1
            return item.frame
        return item

    async def run(self) -> None:
        """The writer: send frames in order until the close marker or a failed send."""
        try:
            while True:
                frame = self._unwrap(await self._queue.get())
                if frame is None:
                    return
                await self._send(frame)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.send_failed = True  # the connection is gone; the receiver sees the disconnect

    async def drain(self, timeout_s: float) -> None:
        """Send what is queued (up to the close marker) on the caller's task, each send bounded
        by `timeout_s`; used before a writer runs (an error, then the close)."""
        while not self._queue.empty():
            frame = self._take()
            if frame is None:
                return
            try:
                await asyncio.wait_for(self._send(frame), timeout_s)
            except Exception:
                self.send_failed = True
                return
