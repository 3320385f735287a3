"""uvicorn's WebSocket protocol with one hole closed.

websockets (the sans-I/O parser uvicorn's default ``websockets-sansio`` protocol drives) refuses
some handshakes before they become a request, for instance a request line or header over its
8 KiB line limit; it then produces no event, and uvicorn waits for one for good: the connection
stays open, unanswered, as long as the client likes (one file descriptor each, a slow-loris
opening). This subclass answers such a handshake with 400 and closes the connection.
"""

from __future__ import annotations

import logging

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger("auralis.server")

_BAD_HANDSHAKE = (
    b"HTTP/1.1 400 Bad Request\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 29\r\n"
    b"Connection: close\r\n"
    b"\r\n"
    b"Invalid WebSocket handshake.\n"
)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        refused = getattr(self.conn, "handshake_exc", None)
        if refused is not None and not self.handshake_initiated and not self.transport.is_closing():
            log.info(
                "invalid WebSocket handshake refused",
                extra={"event": "ws_bad_handshake", "error": str(refused)[:200]},
            )
            self.transport.write(_BAD_HANDSHAKE)
            self.transport.close()
