"""A connection's authorization in production: valid until its token's `exp`, renewable.

The gate checks the token when a WebSocket opens; a stream outlives that moment, so the session
holds a lease on the token: at `exp` (plus the verifier's leeway) `on_expiry` runs (the session
sends `error UNAUTHORIZED` and closes with 1008). Before then the client may present a fresh token
(a `reauth` message): it is verified in full like a new connection's, must name the same subject,
and moves the expiry to its own `exp`. A refused token changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from auralis.server import protocol as P
from auralis.server.security.tokens import AuthError, websocket_credentials

log = logging.getLogger("auralis.server.token_lease")

#: (delay_s, callback) -> a handle with cancel(); the event loop's `call_later` by default.
CallLater = Callable[[float, Callable[[], None]], Any]


class Verifier(Protocol):
    """`auralis.server.security.TokenVerifier`: claims of a valid token, else AuthError."""

    leeway_sec: float

    def verify(self, token: str) -> dict[str, Any]: ...


class SubjectMismatch(Exception):
    """A fresh token for another subject than the connection's."""

    reason = "the new token names another subject than this connection's"


class TokenLease:
    def __init__(
        self,
        verifier: Verifier,
        claims: dict[str, Any],
        *,
        on_expiry: Callable[[], None],
        call_later: CallLater | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = verifier
        self.subject = claims.get("sub")
        self._on_expiry = on_expiry
        self._call_later = call_later
        self._now = now
        self._handle: Any = None
        self.expired = False
        self.expires_at = self._expiry(claims)
        self._schedule()

    def _expiry(self, claims: dict[str, Any]) -> float:
        return float(claims["exp"]) + float(self._verifier.leeway_sec)

    def _schedule(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        call_later = self._call_later or asyncio.get_running_loop().call_later
        self._handle = call_later(max(0.0, self.expires_at - self._now()), self._fire)

    def _fire(self) -> None:
        self._handle = None
        if self._now() < self.expires_at:  # woke early (a clock step): wait the rest
            self._schedule()
            return
        self.expired = True
        self._on_expiry()

    def renew(self, token: str) -> float:
        """Verify a fresh token and extend the lease to its expiry; returns the new expiry (Unix
        seconds). Raises the verifier's AuthError or SubjectMismatch, changing nothing."""
        claims = self._verifier.verify(token)
        if claims.get("sub") != self.subject:
            raise SubjectMismatch(SubjectMismatch.reason)
        if not self.expired:
            self.expires_at = self._expiry(claims)
            self._schedule()
        return self.expires_at

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class ConnectionToken:
    """A listener connection's token in production, the same for personal and station sessions:
    held from the handshake (the gate checked it) until its expiry, when `fail` closes the
    connection with ``UNAUTHORIZED``, and renewed by a ``reauth`` message, answered through `queue`
    with ``auth`` or a recoverable ``UNAUTHORIZED`` error (a refused token changes nothing).

    `fail(code, message, close_code)` and `queue(frame)` are the session's; `log_extra` names the
    connection in the log.
    """

    def __init__(
        self,
        verifier: Verifier,
        scope: Any,
        *,
        fail: Callable[[str, str, int], None],
        queue: Callable[[str], None],
        log_extra: dict[str, Any],
    ) -> None:
        self._verifier = verifier
        self._scope = scope
        self._fail = fail
        self._queue = queue
        self._log_extra = log_extra
        self.lease: TokenLease | None = None

    def hold(self) -> None:
        token, _ = websocket_credentials(self._scope)
        try:
            claims = self._verifier.verify(token or "")
        except AuthError as exc:  # expired between the gate and here
            self._fail("UNAUTHORIZED", exc.reason, P.CLOSE_POLICY)
            return
        self.lease = TokenLease(self._verifier, claims, on_expiry=self._expired)

    def _expired(self) -> None:
        log.info("listener token expired", extra={"event": "ws_token_expired", **self._log_extra})
        self._fail("UNAUTHORIZED", "token expired", P.CLOSE_POLICY)

    def reauth(self, token: str) -> None:
        """A ``reauth`` message's fresh token: verified in full; the expiry moves to its own."""
        if self.lease is None:
            return
        try:
            expires_at = self.lease.renew(token)
        except (AuthError, SubjectMismatch) as exc:
            log.info("reauth refused", extra={"event": "ws_reauth_refused", **self._log_extra})
            self._queue(P.error_message("UNAUTHORIZED", f"reauth refused: {exc.reason}", recoverable=True))
            return
        log.info("listener token renewed", extra={"event": "ws_reauth", **self._log_extra})
        self._queue(P.auth_message(expires_at))

    def cancel(self) -> None:
        if self.lease is not None:
            self.lease.cancel()
