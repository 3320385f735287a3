"""uvicorn's WebSocket protocol with one hole closed and a bounded kernel send buffer.

websockets (the sans-I/O parser uvicorn's default ``websockets-sansio`` protocol drives) refuses
some handshakes before they become a request, for instance a request line or header over its
8 KiB line limit; it then produces no event, and uvicorn waits for one for good: the connection
stays open, unanswered, as long as the client likes (one file descriptor each, a slow-loris
opening). This subclass answers such a handshake with 400 and closes the connection.

It also fixes each listener socket's kernel send buffer (``SO_SNDBUF``, from
``AURALIS_WS_SEND_BUFFER_BYTES``). Left to autotuning, Linux grows it up to 4 MB: about 15 s of
audio that a listener who stopped reading holds in kernel memory before the server's own bound
(the send queue) notices. A stream needs 240 KB/s, so 128 KiB (the kernel doubles it) still covers
a round trip of about a second.
"""

from __future__ import annotations

import logging
import socket
from asyncio import BaseTransport

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
    #: SO_SNDBUF for each connection, bytes; 0 leaves the kernel's autotuning (see websocket_protocol)
    send_buffer_bytes = 0

    def connection_made(self, transport: BaseTransport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket") if self.send_buffer_bytes else None
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer_bytes)
            except OSError as exc:
                log.warning("send buffer size not set", extra={"event": "ws_sndbuf", "error": str(exc)})

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


def websocket_protocol(send_buffer_bytes: int) -> type[WebSocketProtocol]:
    """The protocol class uvicorn instantiates per connection, with this send buffer size."""
    return type("WebSocketProtocol", (WebSocketProtocol,), {"send_buffer_bytes": send_buffer_bytes})
