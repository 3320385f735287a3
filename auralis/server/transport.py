"""What uvicorn runs per connection: the HTTP and WebSocket protocols, and the connection budget.

The request head is bounded before it is parsed, in the HTTP protocol (`HttpProtocol`, httptools,
the parser ``uvicorn[standard]`` picks), since every WebSocket handshake is an HTTP request first:

- **Size.** Bytes are counted as they arrive, before they reach the parser. A head (request line
  and headers) over ``AURALIS_MAX_HEAD_BYTES`` (16 KiB) gets ``431 Request Header Fields Too
  Large`` and the connection is closed: the rest is never read or parsed. (Without this, llhttp's
  callbacks joined a 64 MiB header chunk by chunk: 4.4 s of CPU with the event loop held.)
- **Time.** A connection that has not sent a whole head within ``AURALIS_HEAD_TIMEOUT_S`` of
  connecting (or of starting its next request) is closed: silently if it sent nothing, with 408
  otherwise. Idle keep-alive connections are closed by uvicorn after
  ``AURALIS_KEEP_ALIVE_TIMEOUT_S``. No silent or half-sent connection holds a file descriptor.
- **One Host.** A request with more than one ``Host`` header gets 400 (RFC 9112 3.2).
- **HTTP/1.0 bodies.** An HTTP/1.0 client knows no chunked transfer coding (RFC 9112 7.1), yet
  uvicorn's httptools protocol chunks every response without a ``Content-Length``, the endless
  audio streams included: an old player or speaker that asks in HTTP/1.0 (as ICY clients often
  do) would read the chunk sizes as audio. Such a response is close-delimited instead
  (RFC 9112 6.3): the body is written as it is and the connection closed at its end.

`raise_open_file_limit` raises the soft file-descriptor limit to the hard one at start, and
`concurrency_limit` derives uvicorn's ``limit_concurrency`` from it, so that a full server answers
503 instead of failing on ``Too many open files``.

The WebSocket protocol answers the handshakes websockets refuses (``websockets`` produces no
event for them, and uvicorn waited for one for good) with 400, and fixes each listener socket's
kernel send buffer (``SO_SNDBUF``, ``AURALIS_WS_SEND_BUFFER_BYTES``). Left to autotuning, Linux
grows it up to 4 MB: about 15 s of audio that a listener who stopped reading holds in kernel memory
before the server's own bound (the send queue) notices. A stream needs 240 KB/s, so 128 KiB (the
kernel doubles it) still covers a round trip of about a second.

Each connection's keepalive pings are timed here (uvicorn measures the round trip of its own ping;
the client plays no part), and handed to whoever listens on the connection's `RoundTrips`, found in
the ASGI scope under `ROUND_TRIPS`: the session, for the network-latency figure.
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
import socket
from asyncio import BaseTransport
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger("auralis.server")

#: File descriptors kept out of `concurrency_limit` for the process itself (SoundFont, render
#: threads, logs, the event loop, Redis, the default executor).
FD_RESERVE = 128
#: The soft file-descriptor limit is raised at most to this (one descriptor per connection).
FD_TARGET = 65536

_BAD_HANDSHAKE = (
    b"HTTP/1.1 400 Bad Request\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 29\r\n"
    b"Connection: close\r\n"
    b"\r\n"
    b"Invalid WebSocket handshake.\n"
)


class HeadRefused(Exception):
    """Raised from a parser callback to refuse the request with `status` and `reason`."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _response(status: int, text: str) -> bytes:
    body = (text + "\n").encode()
    return (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "\r\n"
    ).encode() + body


#: Scope key of an HTTP request's asyncio transport: endless audio responses bound its buffers and
#: cut a player that stops reading (`auralis.server.http_streams`).
HTTP_TRANSPORT = "auralis.transport"


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the request head bounded in size and time, one Host."""

    #: set per server by `http_protocol`
    max_head_bytes = 16384
    head_timeout_s = 5.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head = True  # between requests or inside a head: bytes count against the limit
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        while data:
            if not self._in_head:
                self._feed(data)
                return
            if self._head_timer is None:
                self._arm_head_timer()
            room = self.max_head_bytes - self._head_bytes
            if room <= 0:
                break
            part, data = (data, b"") if len(data) <= room else (data[:room], data[room:])
            self._head_bytes += len(part)
            if not self._feed(part):
                return
        if self._in_head and self._head_bytes >= self.max_head_bytes:
            self._refuse(431, f"request head over {self.max_head_bytes} bytes")

    def _feed(self, data: bytes) -> bool:
        """Parse `data` (as uvicorn does); False once the connection is refused or upgraded."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        except httptools.HttpParserError as exc:
            refused = exc.__context__
            if isinstance(refused, HeadRefused):
                self._refuse(refused.status, refused.reason)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return False
        return not self.transport.is_closing()

    def on_headers_complete(self) -> None:
        if sum(1 for name, _ in self.headers if name == b"host") > 1:
            raise HeadRefused(400, "more than one Host header")
        self._in_head = False
        self._cancel_head_timer()
        self.scope[HTTP_TRANSPORT] = self.transport  # type: ignore[index]
        super().on_headers_complete()
        if self.scope["http_version"] == "1.0" and self.cycle is not None:
            _close_delimited_without_length(self.cycle)

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        # The WebSocket protocol has the connection now and this one is dropped; its parser
        # holds its callbacks (bound to this protocol): a cycle only the garbage collector would
        # free. uvicorn breaks it in `connection_lost`, which an upgraded protocol never gets.
        self.parser = None  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        log.debug("connection closed: no request head in time", extra={"event": "http_head_timeout"})
        if self._head_bytes:
            self.transport.write(_response(408, f"no whole request head within {self.head_timeout_s:g} s"))
        self.transport.close()

    def _refuse(self, status: int, reason: str) -> None:
        client = self.client[0] if self.client else "unknown"
        log.info(
            "request refused: %s",
            reason,
            extra={"event": "http_head_refused", "status": status, "client": client},
        )
        self._cancel_head_timer()
        self._in_head = False
        self.transport.write(_response(status, reason))
        self.transport.close()


def _close_delimited_without_length(cycle: Any) -> None:
    """Make an HTTP/1.0 request's response close-delimited when it has no ``Content-Length``,
    instead of chunked. Its ASGI task has not started yet, so `cycle.send` can still be wrapped;
    HTTP/1.0 connections are never kept alive, so uvicorn closes the connection after the body."""
    send = cycle.send

    async def send_close_delimited(message: Any) -> None:
        if message["type"] == "http.response.start":
            names = {name.lower() for name, _ in message.get("headers", [])}
            if (
                b"content-length" not in names
                and b"transfer-encoding" not in names
                and cycle.scope["method"] != "HEAD"
                and message["status"] not in (204, 304)
            ):
                # Neither chunked nor counted: uvicorn writes the body as it is.
                cycle.chunked_encoding = False
                cycle.expected_content_length = math.inf
        elif (
            message["type"] == "http.response.body"
            and not message.get("more_body", False)
            and cycle.expected_content_length == math.inf
        ):
            if message.get("body"):
                await send({"type": "http.response.body", "body": message["body"], "more_body": True})
            cycle.expected_content_length = 0  # the end: uvicorn closes the connection
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    cycle.send = send_close_delimited


def http_protocol(max_head_bytes: int, head_timeout_s: float) -> type[HttpProtocol]:
    """The HTTP protocol class uvicorn instantiates per connection, with these limits."""
    return type(
        "HttpProtocol",
        (HttpProtocol,),
        {"max_head_bytes": max_head_bytes, "head_timeout_s": head_timeout_s},
    )


#: The scope key of a connection's `RoundTrips`.
ROUND_TRIPS = "auralis.round_trips"

#: Scope key of the ASGI `send` below the middleware wrappers (set by the app's outermost one):
#: endless audio bodies go straight to it, and a session reaches its connection's transport
#: through it to cut a client that cannot take a close frame.
RAW_SEND = "auralis.raw_send"


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


# --------------------------------------------------------------------------------------------
# The connection budget


def raise_open_file_limit(target: int = FD_TARGET) -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` towards `target` (never above the hard limit, never
    lowered); returns (soft, hard) as they are afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = target if hard == resource.RLIM_INFINITY else min(target, hard)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.warning("file-descriptor limit not raised", extra={"event": "fd_limit", "error": str(exc)})
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def concurrency_limit(soft_fd_limit: int, configured: int | None = None) -> int:
    """uvicorn's ``limit_concurrency``: `configured`, else the fd limit less `FD_RESERVE`."""
    if configured is not None:
        return configured
    return max(16, soft_fd_limit - FD_RESERVE)


def connection_budget(settings: Any) -> dict[str, int]:
    """Raise the fd limit and work out ``limit_concurrency``; logged once at start."""
    soft, hard = raise_open_file_limit()
    limit = concurrency_limit(soft, settings.limit_concurrency)
    log.info(
        "connection budget: %d open files, %d connections before 503",
        soft,
        limit,
        extra={"event": "fd_limit", "fd_soft_limit": soft, "fd_hard_limit": hard, "limit_concurrency": limit},
    )
    return {"fd_soft_limit": soft, "limit_concurrency": limit}
