"""What a personal listener's and a station listener's WebSocket sessions share: the outbox their
frames are queued on, and how the connection ends.

A frame is queued on the session's `Outbox`; a client whose backlog of audio reaches the bound is
not reading, and is dropped with close 1008 at once (no flush: it would not take the frames). A
session ends once (`request_close`, idempotent): the subclass stops what produces its frames, an
optional ``status disconnected`` goes last, then the queued frames are sent (flush) or the writer
is cancelled. When the tasks have ended, `_finish_close` sends the close frame if both ends are
still open, and cuts the TCP connection (`abort`) when the frame cannot leave within
`CLOSE_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from starlette import status
from starlette.websockets import WebSocket, WebSocketState

from auralis.server import protocol as P
from auralis.server.outbox import Outbox, websocket_send
from auralis.server.transport import RAW_SEND

log = logging.getLogger("auralis.server.ws_session")

#: Time allowed for the close frame to leave before the connection is cut.
CLOSE_TIMEOUT_S = 1.0


def close_reason(text: str) -> str:
    """A WebSocket close reason fits 123 bytes of UTF-8."""
    data = text.encode()
    return text if len(data) <= 123 else data[:120].decode(errors="ignore") + "..."


class WebSocketSession:
    """The outbox and the ending of one WebSocket listener (see the module docstring)."""

    def __init__(self, ws: WebSocket, send_queue_chunks: int) -> None:
        self.ws = ws
        self.client_id = uuid.uuid4().hex
        self.finished = asyncio.Event()
        self.outbox = Outbox(websocket_send(ws), audio_limit=send_queue_chunks)
        self._close: tuple[int, str] | None = None
        self._writer: asyncio.Task[None] | None = None

    def _log_extra(self) -> dict[str, Any]:
        """The fields that name this listener in a log record."""
        return {"client_id": self.client_id}

    def _stop_producing(self) -> None:
        """Stop what queues this session's frames (the close was requested)."""
        raise NotImplementedError

    def _goodbye_depth(self) -> int:
        """The buffer depth a ``status disconnected`` reports."""
        return 0

    # --- sending -----------------------------------------------------------------------------

    def _queue(self, frame: str | bytes, *, audio: bool = False) -> None:
        """Queue a ready frame; a client whose backlog is at the outbox's bound is not reading:
        it is dropped with 1008."""
        if self._close is not None:
            return
        if not self.outbox.put(frame, audio=audio):
            log.warning(
                "listener too slow, dropped",
                extra={"event": "ws_slow_client", **self._log_extra(), "queued": self.outbox.queued},
            )
            self.request_close(
                status.WS_1008_POLICY_VIOLATION, "client too slow: it stopped reading the stream", flush=False
            )

    def _fail(self, code: str, message: str, close_code: int) -> None:
        """End with an ``error`` message (not recoverable) and `close_code`."""
        self.outbox.put_final(P.error_message(code, message, recoverable=False))
        self.request_close(close_code, message)

    # --- closing -----------------------------------------------------------------------------

    def request_close(self, code: int, reason: str, *, flush: bool = True, goodbye: bool = False) -> None:
        """Close with `code`: after the queued frames (flush) or at once (a client too slow to
        take them). `goodbye` sends `status disconnected` first. Idempotent."""
        if self._close is not None:
            return
        self._close = (code, reason)
        self._stop_producing()
        if goodbye:
            self.outbox.put_final(P.status_message("disconnected", reason, self._goodbye_depth()))
        if flush:
            self.outbox.close()
        elif self._writer is not None:
            self._writer.cancel()

    def _connected(self) -> bool:
        """Both ends of the WebSocket are still open (Starlette's states) and sends succeed."""
        return (
            not self.outbox.send_failed
            and self.ws.client_state != WebSocketState.DISCONNECTED
            and self.ws.application_state == WebSocketState.CONNECTED
        )

    async def _finish_close(self) -> int | None:
        """Send the close frame if the client is still there; cut the connection if it cannot.
        Returns the close code (None: no close was requested)."""
        if self._close is None:
            return None
        code, reason = self._close
        if self._connected():
            try:
                await asyncio.wait_for(self.ws.close(code, close_reason(reason)), CLOSE_TIMEOUT_S)
            except TimeoutError:
                self.abort()
            except Exception:
                pass  # the client left meanwhile
        return code

    def abort(self) -> None:
        """Cut the TCP connection (a client that does not read cannot take a close frame)."""
        raw_send = self.ws.scope.get(RAW_SEND)
        transport = getattr(getattr(raw_send, "__self__", None), "transport", None)
        if transport is not None and hasattr(transport, "abort"):
            transport.abort()
            log.info("listener cut", extra={"event": "ws_abort", **self._log_extra()})
