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

Each connection's keepalive pings are timed here (uvicorn measures the round trip of its own ping;
the client plays no part), and handed to whoever listens on the connection's `RoundTrips`, found in
the ASGI scope under `ROUND_TRIPS`: the session, for the network-latency figure.
"""

from __future__ import annotations

import logging
import socket
from asyncio import BaseTransport
from collections.abc import Callable
from typing import Any

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


#: The scope key of a connection's `RoundTrips`.
ROUND_TRIPS = "auralis.round_trips"


class RoundTrips:
    """The round trips (seconds) of the server's own pings on one connection, as they come."""

    def __init__(self) -> None:
        self.listener: Callable[[float], None] | None = None
        self.count = 0

    def observe(self, rtt_s: float) -> None:
        self.count += 1
        listener = self.listener
        if listener is not None:
            try:
                listener(rtt_s)
            except Exception:  # a figure must never break the connection
                log.exception("round-trip listener failed")


class WebSocketProtocol(WebSocketsSansIOProtocol):
    #: SO_SNDBUF for each connection, bytes; 0 leaves the kernel's autotuning (see websocket_protocol)
    send_buffer_bytes = 0
    round_trips: RoundTrips

    def handle_connect(self, event: Any) -> None:
        self.round_trips = RoundTrips()
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # the app runs on a later turn of the loop: it sees the key
            scope[ROUND_TRIPS] = self.round_trips

    def handle_pong(self, event: Any) -> None:
        awaited = self.pending_ping_payload
        super().handle_pong(event)
        if awaited is not None and self.pending_ping_payload is None:  # our ping, answered
            self.round_trips.observe(self.last_ping_rtt)

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
