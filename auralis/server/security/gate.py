"""The connection gate: every listener connection, whatever its transport, passes it.

`SecurityGateMiddleware` is pure ASGI middleware in front of the app, installed in every mode:

- HTTP: a token for `PROTECTED_HTTP_PREFIXES` (401 JSON with ``WWW-Authenticate`` otherwise).
- WebSocket, in order: the Origin check (HTTP 403 before the handshake), the per-address
  connection rate (`RATE_LIMITED`, close 1008), the token (`UNAUTHORIZED`, close 1008), a
  listener slot (`ListenerSlots`, close 1013), then for the whole connection the per-connection
  message rate (`RATE_LIMITED`; close 1008 if it keeps on).
- Listener connections (every WebSocket, and HTTP requests under `LISTENER_HTTP_PREFIXES`) hold
  a slot from the handshake until the app returns. A refused HTTP listener gets 503 with
  ``Retry-After`` and a reason naming the cap. A new listener transport (HTTP audio streams,
  stations) adds its path prefix there and gets the same caps.

`ListenerSlots` counts open listener connections in all, per client address (an IPv6 client by
its /64, `auralis.server.clients`) and per token subject (``sub``). The last `headroom` slots of
the total are kept for clients that hold none yet, so no single client (one address, one
subject) can fill the server.

The request head's size and time limits sit below, in the HTTP protocol
(`auralis.server.transport`): they must act before a request is parsed into a scope.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auralis.server.clients import client_key
from auralis.server.protocol import CLOSE_POLICY, CLOSE_TRY_AGAIN_LATER, error_message
from auralis.server.ratelimit import ConnectionRateLimiter, MessageRateLimiter
from auralis.server.security.origins import origin_allowed
from auralis.server.security.tokens import (
    MISSING_WS_TOKEN,
    AuthError,
    TokenVerifier,
    bearer_token,
    websocket_credentials,
)

log = logging.getLogger("auralis.server.security")

FLOOD_REASON = "message rate limit exceeded"
#: HTTP paths that need a token in production (prefix match); WebSocket paths all do.
PROTECTED_HTTP_PREFIXES: tuple[str, ...] = ("/api/", "/metrics")
#: HTTP paths whose requests are listener connections (long-lived audio), counted like a WebSocket.
LISTENER_HTTP_PREFIXES: tuple[str, ...] = ("/stream/", "/stream.")
#: Seconds a refused HTTP listener is told to wait (``Retry-After``).
RETRY_AFTER_S = 10


# --------------------------------------------------------------------------------------------
# Listener slots


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a listener connection was refused: the cap (``server``, ``cluster``, ``headroom``,
    ``address``, ``subject``) and a reason for the client that names it."""

    cap: str
    reason: str
    retry_after_s: int = RETRY_AFTER_S


class Slot:
    """One open listener connection's place; `release()` (idempotent) when the connection ends."""

    __slots__ = ("_owner", "address", "subject", "_released")

    def __init__(self, owner: ListenerSlots, address: str, subject: str | None) -> None:
        self._owner = owner
        self.address = address
        self.subject = subject
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._owner._release(self)


class ListenerSlots:
    """Open listener connections: at most `total`, `per_address` per client address key and
    `per_subject` per token subject (None: no such cap); the last `headroom` of `total` only for
    clients holding no slot yet."""

    def __init__(
        self,
        total: int,
        *,
        per_address: int | None = None,
        per_subject: int | None = None,
        headroom: int = 0,
    ) -> None:
        self.total = total
        self.per_address = per_address
        self.per_subject = per_subject
        self.headroom = max(0, min(headroom, total - 1))
        self.open = 0
        self._by_address: Counter[str] = Counter()
        self._by_subject: Counter[str] = Counter()
        self.cluster_total: int | None = None
        self._elsewhere: Callable[[], int | None] = lambda: None

    def share(self, cluster_total: int | None, elsewhere: Callable[[], int | None]) -> None:
        """Also cap the listeners of the whole cluster at `cluster_total`: `elsewhere()` is how
        many the other instances hold (None while unknown, e.g. Redis unreachable: then only
        this instance's caps apply)."""
        self.cluster_total = cluster_total
        self._elsewhere = elsewhere

    def acquire(self, address: str, subject: str | None = None) -> Slot | Refusal:
        """A slot for a listener from `address` (a `client_key`) holding a token for `subject`."""
        held_by_address = self._by_address[address]
        held_by_subject = self._by_subject[subject] if subject is not None else 0
        if self.open >= self.total:
            return Refusal("server", f"server at capacity ({self.total} listeners); try again later")
        if self.cluster_total is not None:
            elsewhere = self._elsewhere()
            if elsewhere is not None and self.open + elsewhere >= self.cluster_total:
                return Refusal(
                    "cluster", f"cluster at capacity ({self.cluster_total} listeners); try again later"
                )
        if self.per_address is not None and held_by_address >= self.per_address:
            return Refusal(
                "address",
                f"too many listeners from this address ({self.per_address} at most); try again later",
            )
        if self.per_subject is not None and subject is not None and held_by_subject >= self.per_subject:
            return Refusal(
                "subject",
                f"too many listeners for this token subject ({self.per_subject} at most); try again later",
            )
        if self.open >= self.total - self.headroom and (held_by_address or held_by_subject):
            return Refusal(
                "headroom",
                f"server nearly full: the last {self.headroom} listener slots are kept for new clients",
            )
        self.open += 1
        self._by_address[address] += 1
        if subject is not None:
            self._by_subject[subject] += 1
        return Slot(self, address, subject)

    def _release(self, slot: Slot) -> None:
        self.open -= 1
        _decrement(self._by_address, slot.address)
        if slot.subject is not None:
            _decrement(self._by_subject, slot.subject)

    def held(self, address: str) -> int:
        return self._by_address[address]


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


# --------------------------------------------------------------------------------------------
# The middleware


@dataclass(frozen=True)
class GatePolicy:
    """What the gate enforces. `verifier` None means no tokens (development)."""

    verifier: TokenVerifier | None = None
    allowed_origins: tuple[str, ...] = ()
    check_origin: bool = False


class _ClosedByGate(OSError):
    """Raised into the app when it sends on a WebSocket the gate has closed (as uvicorn does)."""


class SecurityGateMiddleware:
    """Pure ASGI middleware in front of the app (see the module's docstring for the order)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: GatePolicy,
        slots: ListenerSlots,
        connect_limiter: ConnectionRateLimiter | None = None,
        message_limiter: MessageRateLimiter | None = None,
    ) -> None:
        self.app = app
        self.policy = policy
        self.slots = slots
        self.connect_limiter = connect_limiter
        self.message_limiter = message_limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        verifier = self.policy.verifier
        path = scope.get("path", "")
        claims: dict[str, Any] = {}
        exempt = scope.get("method") == "OPTIONS" or not path.startswith(PROTECTED_HTTP_PREFIXES)
        if verifier is not None and not exempt:
            token = bearer_token(Headers(scope=scope).get("authorization"))
            try:
                if token is None:
                    raise AuthError("missing bearer token (Authorization: Bearer <token>)")
                claims = verifier.verify(token)
            except AuthError as exc:
                log.info(
                    "request refused: %s",
                    exc.reason,
                    extra={"event": "auth_refused", "path": path, "client": _client(scope)},
                )
                await _unauthorized(send, exc.reason, missing=token is None)
                return
        if not (LISTENER_HTTP_PREFIXES and path.startswith(LISTENER_HTTP_PREFIXES)):
            await self.app(scope, receive, send)
            return
        slot = self._acquire(scope, claims)
        if isinstance(slot, Refusal):
            await _service_unavailable(send, slot)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            slot.release()

    def _acquire(self, scope: Scope, claims: dict[str, Any]) -> Slot | Refusal:
        subject = claims.get("sub")
        address = client_key(_client(scope))
        slot = self.slots.acquire(address, subject if isinstance(subject, str) else None)
        if isinstance(slot, Refusal):
            log.warning(
                "listener refused: %s cap",
                slot.cap,
                extra={"event": "listener_refused", "cap": slot.cap, "client": address,
                       "listeners": self.slots.open},
            )
        return slot

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        policy = self.policy
        client = _client(scope)
        who = {"client": client}
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        allowed = origin_allowed(origin, headers.get("host"), policy.allowed_origins, scope.get("scheme"))
        if policy.check_origin and not allowed:
            log.warning(
                "listener refused: origin not allowed",
                extra={"event": "ws_refused", "origin": (origin or "")[:200], **who},
            )
            await receive()  # websocket.connect
            await _close(send, "origin not allowed")
            return

        token, subprotocol = websocket_credentials(scope)
        if self.connect_limiter is not None:
            refusal = await self.connect_limiter.hit(client)
            if refusal is not None:
                log.warning("listener refused: connection rate", extra={"event": "ws_rate", **who})
                await _refuse_websocket(receive, send, subprotocol, "RATE_LIMITED", refusal)
                return
        claims: dict[str, Any] = {}
        if policy.verifier is not None:
            try:
                if not token:
                    raise AuthError(MISSING_WS_TOKEN)
                claims = policy.verifier.verify(token)
            except AuthError as exc:
                log.info("listener refused: %s", exc.reason, extra={"event": "ws_refused", **who})
                await _refuse_websocket(receive, send, subprotocol, "UNAUTHORIZED", exc.reason)
                return
        slot = self._acquire(scope, claims)
        if isinstance(slot, Refusal):
            await receive()  # websocket.connect
            await send({"type": "websocket.accept", "subprotocol": subprotocol, "headers": []})
            try:
                await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER, "reason": slot.reason})
            except OSError:
                pass  # the client left first
            return

        guard = self.message_limiter.guard() if self.message_limiter is not None else None
        closed = False

        async def gated_send(message: Message) -> None:
            if closed:
                raise _ClosedByGate("WebSocket closed by the message rate limit")
            if message["type"] == "websocket.accept" and subprotocol:
                message = {**message, "subprotocol": message.get("subprotocol") or subprotocol}
            await send(message)

        async def gated_receive() -> Message:
            nonlocal closed
            while True:
                message = await receive()
                if guard is None or message["type"] != "websocket.receive" or closed:
                    return message
                verdict = guard.hit()
                if verdict.allowed:
                    return message
                if verdict.notify:
                    recoverable = not verdict.close
                    error = error_message("RATE_LIMITED", verdict.message, recoverable=recoverable)
                    await send({"type": "websocket.send", "text": error})
                if verdict.close:
                    log.warning("listener closed: flood", extra={"event": "ws_flood", **who})
                    closed = True
                    await _close(send, FLOOD_REASON)
                    return {"type": "websocket.disconnect", "code": CLOSE_POLICY}

        try:
            await self.app(scope, gated_receive, gated_send)
        finally:
            slot.release()
            if guard is not None:
                guard.release()


async def _close(send: Send, reason: str) -> None:
    await send({"type": "websocket.close", "code": CLOSE_POLICY, "reason": reason})


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


async def _unauthorized(send: Send, reason: str, *, missing: bool) -> None:
    """401 with a JSON body and an RFC 6750 challenge (no error code when no token was sent)."""
    body = json.dumps({"error": "Unauthorized", "detail": reason}).encode()
    challenge = 'Bearer realm="auralis"'
    if not missing:
        description = "".join(c for c in reason if c.isprintable() and c not in '"\\')[:200]
        challenge += f', error="invalid_token", error_description="{description}"'
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", challenge.encode("latin-1", "replace")),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _service_unavailable(send: Send, refusal: Refusal) -> None:
    """503 with ``Retry-After`` and a JSON body naming the cap that refused the listener."""
    body = json.dumps(
        {"error": "Service Unavailable", "detail": refusal.reason, "cap": refusal.cap,
         "retry_after": refusal.retry_after_s}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(refusal.retry_after_s).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _refuse_websocket(
    receive: Receive, send: Send, subprotocol: str | None, code: str, reason: str
) -> None:
    """Accept (echoing the bearer subprotocol), say why in an `error`, close 1008."""
    await receive()  # websocket.connect
    await send({"type": "websocket.accept", "subprotocol": subprotocol, "headers": []})
    try:
        error = error_message(code, reason, recoverable=False)
        await send({"type": "websocket.send", "text": error})
        await _close(send, code.lower().replace("_", " "))
    except OSError:
        pass  # the client left first
