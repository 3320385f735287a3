"""Production security: JWT verification, the origin and host policy, security headers, the gate.

Development mode (the default) binds to loopback, asks for no token and allows any origin
without credentials; of the checks below it keeps only the protocol's per-connection message
rate. Production installs all of them (`install_security`):

- JWT (PyJWT), HS256 with a shared secret or RS256 with a PEM public key, expiry required and
  checked. HTTP takes ``Authorization: Bearer <token>``; the WebSocket takes ``?token=<token>`` or
  the subprotocol pair ``bearer, <token>`` (browsers cannot set headers on a WebSocket); the server
  then answers with the subprotocol ``bearer``.
- Only ``/api/*``, ``/metrics`` and ``/ws/*`` need a token: a browser cannot send a bearer header
  for the page itself, so ``/``, ``/client/*`` and ``/debug`` stay public.
- CORS restricted to the allowed origins, TrustedHost, an HTTPS redirect that trusts
  ``X-Forwarded-Proto`` from the proxies uvicorn trusts (``forwarded_allow_ips``), and security
  headers with a Content-Security-Policy the pages satisfy (no inline script or style).
- A WebSocket Origin check against cross-site WebSocket hijacking: a browser's Origin must be the
  page's own origin or an allowed one; clients that send no Origin (not browsers) pass to the token
  check.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from starlette.datastructures import Headers
from starlette.middleware.httpsredirect import HTTPSRedirectMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auralis.server.protocol import CLOSE_POLICY, error_message
from auralis.server.ratelimit import (
    ConnectionRateLimiter,
    MessageRateLimiter,
    make_http_limiter,
    parse_rate,
    rate_limit_exceeded_handler,
)

if TYPE_CHECKING:
    from auralis.server.settings import Settings

log = logging.getLogger("auralis.server.security")

#: RFC 7518 3.2: an HS256 key must be at least as long as the hash output.
MIN_HS256_SECRET_BYTES = 32
#: The WebSocket subprotocol that carries a token: ``new WebSocket(url, ["bearer", token])``.
BEARER_SUBPROTOCOL = "bearer"

MISSING_WS_TOKEN = "missing token (?token=<jwt> or subprotocols ['bearer', <jwt>])"
FLOOD_REASON = "message rate limit exceeded"
#: HTTP paths that need a token in production (prefix match); WebSocket paths all do.
PROTECTED_HTTP_PREFIXES: tuple[str, ...] = ("/api/", "/metrics")


class SecurityConfigError(ValueError):
    """The production security settings are missing or unusable (the server refuses to start)."""


class AuthError(Exception):
    """A request's credentials were missing or refused; `reason` is safe to show the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Tokens


def _load_public_key(value: str) -> RSAPublicKey:
    """Load an RSA public key from PEM text (literal ``\\n`` escapes allowed) or a PEM file path."""
    text = value.strip()
    if not text.startswith("-----BEGIN"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise SecurityConfigError(
                "AURALIS_JWT_PUBLIC_KEY must be an RSA public key in PEM form "
                "(-----BEGIN PUBLIC KEY----- ...) or the path of a PEM file"
            )
        text = path.read_text().strip()
    if "\n" not in text and "\\n" in text:
        text = text.replace("\\n", "\n")
    try:
        key = load_pem_public_key(text.encode())
    except ValueError as exc:
        raise SecurityConfigError(
            f"AURALIS_JWT_PUBLIC_KEY is not a readable PEM public key: {exc}"
        ) from None
    if not isinstance(key, RSAPublicKey):
        raise SecurityConfigError("AURALIS_JWT_PUBLIC_KEY must be an RSA public key (RS256)")
    return key


class TokenVerifier:
    """Verifies bearer JWTs with PyJWT: HS256 against a secret and/or RS256 against a public key.

    The algorithm is taken from the token's header only to pick the key configured for it, and
    each key is only ever used with its own algorithm (no algorithm confusion). ``exp`` is required.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        public_key: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        leeway_sec: float = 0.0,
    ) -> None:
        self._keys: dict[str, Any] = {}
        if secret:
            if len(secret.encode()) < MIN_HS256_SECRET_BYTES:
                raise SecurityConfigError(
                    f"AURALIS_JWT_SECRET must be at least {MIN_HS256_SECRET_BYTES} bytes for HS256 "
                    f"(got {len(secret.encode())}); generate one with: python -c "
                    "'import secrets; print(secrets.token_urlsafe(48))'"
                )
            self._keys["HS256"] = secret.encode()
        if public_key:
            self._keys["RS256"] = _load_public_key(public_key)
        if not self._keys:
            raise SecurityConfigError(
                "production mode (AURALIS_ENV=production) needs a JWT key: set AURALIS_JWT_SECRET "
                "(HS256, at least 32 bytes) or AURALIS_JWT_PUBLIC_KEY (RS256, PEM)"
            )
        self.audience = audience or None
        self.issuer = issuer or None
        self.leeway_sec = leeway_sec

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; AuthError with a short reason if it is refused."""
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        key = self._keys.get(alg) if isinstance(alg, str) else None
        if key is None:
            shown = repr(alg)[:24]
            accepted = ", ".join(self._keys)
            raise AuthError(f"token algorithm {shown} not accepted (accepted: {accepted})")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_sec,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidSignatureError:
            raise AuthError("token signature invalid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token has no {exc.claim!r} claim") from None
        except jwt.InvalidAudienceError:
            raise AuthError("token audience not accepted") from None
        except jwt.InvalidIssuerError:
            raise AuthError("token issuer not accepted") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token not yet valid") from None
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None


#: The role claim an operator's token carries (``"role": "operator"`` or ``"roles": [..., "operator"]``).
OPERATOR_ROLE = "operator"


def has_role(claims: dict[str, Any], role: str) -> bool:
    """Whether verified `claims` grant `role`, by a ``role`` string or a ``roles`` list."""
    roles = claims.get("roles")
    return claims.get("role") == role or (isinstance(roles, list) and role in roles)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def websocket_credentials(scope: Scope) -> tuple[str | None, str | None]:
    """(token, subprotocol to accept) from a WebSocket handshake.

    The ``bearer, <token>`` subprotocol pair wins over ``?token=``; the subprotocol to accept is
    ``bearer`` when the client offered it (a browser fails the handshake if an offered subprotocol
    is not echoed).
    """
    offered = [p.strip() for p in scope.get("subprotocols", []) if p.strip()]
    if BEARER_SUBPROTOCOL in offered:
        i = offered.index(BEARER_SUBPROTOCOL)
        token = offered[i + 1] if i + 1 < len(offered) else None
        return token, BEARER_SUBPROTOCOL
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return (values[-1] if values else None), None


# --------------------------------------------------------------------------------------------
# Origins


def normalise_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, default ports dropped; '' if it is not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def origin_allowed(origin: str | None, host: str | None, allowed: Iterable[str]) -> bool:
    """Whether a browser's Origin may talk to this server.

    No Origin (a non-browser client) passes; a same-origin page (Origin host:port equal to the
    Host header) passes; otherwise the Origin must be one of `allowed`.
    """
    if origin is None:
        return True
    norm = normalise_origin(origin)
    if not norm:
        return False
    if host and urlsplit(norm).netloc == _strip_default_port(host.lower(), urlsplit(norm).scheme):
        return True
    return norm in {normalise_origin(a) for a in allowed}


def _strip_default_port(host: str, scheme: str) -> str:
    default = {"http": ":80", "https": ":443"}.get(scheme, "")
    return host[: -len(default)] if default and host.endswith(default) else host


# --------------------------------------------------------------------------------------------
# Headers


def content_security_policy() -> str:
    """The CSP the pages satisfy: everything from this origin, no inline script or style.

    ``connect-src 'self'`` covers same-origin ``ws:``/``wss:`` (CSP3), the AudioWorklet module is a
    script from 'self', and nothing may frame the pages.
    """
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "worker-src 'self'",
            "media-src 'self' blob:",
            "img-src 'self' data:",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(hsts_max_age: int = 31_536_000) -> list[tuple[bytes, bytes]]:
    """The response headers production adds to every HTTP response (the contract's set plus CSP)."""
    pairs = {
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "x-xss-protection": "1; mode=block",
        "referrer-policy": "strict-origin-when-cross-origin",
        "strict-transport-security": f"max-age={hsts_max_age}; includeSubDomains",
        "content-security-policy": content_security_policy(),
        "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "cross-origin-opener-policy": "same-origin",
    }
    return [(k.encode(), v.encode()) for k, v in pairs.items()]


class SecurityHeadersMiddleware:
    """Adds `security_headers()` to every HTTP response (a header the app set itself is kept)."""

    def __init__(self, app: ASGIApp, headers: Sequence[tuple[bytes, bytes]] | None = None) -> None:
        self.app = app
        self.headers = list(headers if headers is not None else security_headers())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --------------------------------------------------------------------------------------------
# The gate: tokens for HTTP and WebSocket, the WebSocket Origin check and limits


@dataclass(frozen=True)
class GatePolicy:
    """What the gate enforces. `verifier` None means no tokens (development)."""

    verifier: TokenVerifier | None = None
    allowed_origins: tuple[str, ...] = ()
    check_origin: bool = False


class _ClosedByGate(OSError):
    """Raised into the app when it sends on a WebSocket the gate has closed (as uvicorn does)."""


class SecurityGateMiddleware:
    """Pure ASGI middleware in front of the app.

    HTTP: a token for `PROTECTED_HTTP_PREFIXES` (401 JSON with ``WWW-Authenticate`` otherwise).
    WebSocket, in order: the Origin check (HTTP 403 before the handshake), the per-IP connection
    rate (`RATE_LIMITED`, close 1008), the token (`UNAUTHORIZED`, close 1008), then for the whole
    connection the per-connection message rate (`RATE_LIMITED`; close 1008 if it keeps on).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: GatePolicy,
        connect_limiter: ConnectionRateLimiter | None = None,
        message_limiter: MessageRateLimiter | None = None,
    ) -> None:
        self.app = app
        self.policy = policy
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
        exempt = scope.get("method") == "OPTIONS" or not path.startswith(PROTECTED_HTTP_PREFIXES)
        if verifier is None or exempt:
            await self.app(scope, receive, send)
            return
        token = bearer_token(Headers(scope=scope).get("authorization"))
        try:
            if token is None:
                raise AuthError("missing bearer token (Authorization: Bearer <token>)")
            verifier.verify(token)
        except AuthError as exc:
            log.info(
                "request refused: %s",
                exc.reason,
                extra={"event": "auth_refused", "path": path, "client": _client(scope)},
            )
            await _unauthorized(send, exc.reason, missing=token is None)
            return
        await self.app(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        policy = self.policy
        client = _client(scope)
        who = {"client": client}
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        allowed = origin_allowed(origin, headers.get("host"), policy.allowed_origins)
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
        if policy.verifier is not None:
            try:
                if not token:
                    raise AuthError(MISSING_WS_TOKEN)
                policy.verifier.verify(token)
            except AuthError as exc:
                log.info("listener refused: %s", exc.reason, extra={"event": "ws_refused", **who})
                await _refuse_websocket(receive, send, subprotocol, "UNAUTHORIZED", exc.reason)
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


# --------------------------------------------------------------------------------------------
# Wiring


def install_security(app: FastAPI, settings: Settings) -> Limiter:
    """Install the mode's middleware and limits on `app`; returns slowapi's limiter for the routes.

    Call it in the app factory before the routes are declared (they decorate with the limiter).
    Raises SecurityConfigError (a ValueError) when production settings are missing or unusable,
    so the server refuses to start with a message that names the setting.
    """
    production = settings.env == "production"
    message_rate = parse_rate(settings.ws_message_rate, "AURALIS_WS_MESSAGE_RATE")
    message_limiter = MessageRateLimiter(message_rate)
    if not production:
        limiter = make_http_limiter(enabled=False)
        app.state.limiter = limiter
        app.add_exception_handler(RateLimitExceeded, rate_limit_exceeded_handler)
        app.add_middleware(
            SecurityGateMiddleware, policy=GatePolicy(), message_limiter=message_limiter
        )
        app.add_middleware(
            CORSMiddleware,
            allow_origins=["*"],
            allow_credentials=False,
            allow_methods=["*"],
            allow_headers=["*"],
        )
        return limiter

    secret = settings.jwt_secret
    if secret is not None and hasattr(secret, "get_secret_value"):
        secret = secret.get_secret_value()
    verifier = TokenVerifier(
        secret=secret or None,
        public_key=settings.jwt_public_key or None,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    # the sessions hold streams to their tokens' expiry; the operator feed checks a role claim
    app.state.token_verifier = verifier
    hosts = [h.strip().lower() for h in settings.allowed_hosts if h.strip()]
    if not hosts:
        raise SecurityConfigError(
            "production mode needs AURALIS_ALLOWED_HOSTS: the host names this server answers to, "
            "comma-separated (e.g. auralis.example.com), or * to accept any Host header"
        )
    for host in hosts:
        if "*" in host[1:] or (host.startswith("*") and host != "*" and not host.startswith("*.")):
            raise SecurityConfigError(
                f"AURALIS_ALLOWED_HOSTS: {host!r} is not a host name or a *.domain pattern"
            )
    origins = []
    for origin in settings.allowed_origins:
        norm = normalise_origin(origin)
        if not norm:
            raise SecurityConfigError(
                f"AURALIS_ALLOWED_ORIGINS: {origin!r} is not an origin "
                "like https://auralis.example.com"
            )
        origins.append(norm)

    limiter = make_http_limiter(enabled=True, redis_url=settings.redis_url or None)
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, rate_limit_exceeded_handler)
    # add_middleware puts each new one outside the previous: the last added runs first.
    connect_rate = parse_rate(settings.ws_connect_rate, "AURALIS_WS_CONNECT_RATE")
    app.add_middleware(
        SecurityGateMiddleware,
        policy=GatePolicy(verifier=verifier, allowed_origins=tuple(origins), check_origin=True),
        connect_limiter=ConnectionRateLimiter(connect_rate, redis_url=settings.redis_url or None),
        message_limiter=message_limiter,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials=True,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
    )
    if settings.https_redirect:
        app.add_middleware(HTTPSRedirectMiddleware)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    app.add_middleware(SecurityHeadersMiddleware)
    log.info(
        "production security: JWT %s, hosts %s, origins %s, rate-limit storage %s",
        "+".join(verifier.algorithms),
        ",".join(hosts),
        ",".join(origins) or "(same origin only)",
        "redis" if settings.redis_url else "memory",
    )
    return limiter
