"""Production security and the connection gate, wired onto the app (`install_security`).

One module per concern:

- `tokens`: JWT verification (PyJWT, HS256 and/or RS256, ``exp`` required) and where a request
  carries its token;
- `origins`: the Origin policy (same origin, scheme included, or an allowed one) and the host
  and origin values the settings accept;
- `headers`: the security headers and Content-Security-Policy of every production response;
- `gate`: the ASGI gate every listener connection passes (tokens, the WebSocket Origin check,
  connection and message rates, listener slots with per-address and per-subject caps).

Development mode (the default) binds to loopback, asks for no token and allows any origin
without credentials; it keeps the protocol's per-connection message rate and the total listener
cap. Production installs all of the checks: JWT on ``/api/*``, ``/metrics`` and ``/ws/*`` (the
pages stay public: a browser cannot send a bearer header for the page itself), CORS restricted
to the allowed origins, TrustedHost, an HTTPS redirect that trusts ``X-Forwarded-Proto`` from
the proxies uvicorn trusts (``forwarded_allow_ips``), security headers, rate limits and the
per-client listener caps.

The request head's size and time limits are not middleware: they act in the HTTP protocol
before a request exists (`auralis.server.transport`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from starlette.middleware.httpsredirect import HTTPSRedirectMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from auralis.server.ratelimit import (
    ConnectionRateLimiter,
    MessageRateLimiter,
    make_http_limiter,
    parse_rate,
    rate_limit_exceeded_handler,
)
from auralis.server.security.gate import (
    FLOOD_REASON,
    LISTENER_HTTP_PREFIXES,
    PROTECTED_HTTP_PREFIXES,
    GatePolicy,
    ListenerSlots,
    Refusal,
    SecurityGateMiddleware,
    Slot,
)
from auralis.server.security.headers import (
    SecurityHeadersMiddleware,
    content_security_policy,
    security_headers,
)
from auralis.server.security.origins import normalise_origin, origin_allowed
from auralis.server.security.tokens import (
    BEARER_SUBPROTOCOL,
    MIN_HS256_SECRET_BYTES,
    MISSING_WS_TOKEN,
    OPERATOR_ROLE,
    AuthError,
    SecurityConfigError,
    TokenVerifier,
    bearer_token,
    has_role,
    websocket_credentials,
)

if TYPE_CHECKING:
    from auralis.server.settings import Settings

__all__ = [
    "BEARER_SUBPROTOCOL",
    "FLOOD_REASON",
    "LISTENER_HTTP_PREFIXES",
    "MIN_HS256_SECRET_BYTES",
    "MISSING_WS_TOKEN",
    "OPERATOR_ROLE",
    "PROTECTED_HTTP_PREFIXES",
    "AuthError",
    "GatePolicy",
    "ListenerSlots",
    "Refusal",
    "SecurityConfigError",
    "SecurityGateMiddleware",
    "SecurityHeadersMiddleware",
    "Slot",
    "TokenVerifier",
    "bearer_token",
    "content_security_policy",
    "has_role",
    "install_security",
    "listener_slots",
    "normalise_origin",
    "origin_allowed",
    "security_headers",
    "websocket_credentials",
]

log = logging.getLogger("auralis.server.security")


def listener_slots(settings: Settings) -> ListenerSlots:
    """The listener caps of the mode: the total in every mode; per address, per token subject and
    the headroom kept for new clients in production."""
    if settings.env != "production":
        return ListenerSlots(settings.max_connections)
    return ListenerSlots(
        settings.max_connections,
        per_address=settings.max_listeners_per_address,
        per_subject=settings.max_listeners_per_subject,
        headroom=settings.listener_headroom,
    )


def install_security(app: FastAPI, settings: Settings) -> Limiter:
    """Install the mode's middleware and limits on `app`; returns slowapi's limiter for the routes.

    Call it in the app factory before the routes are declared (they decorate with the limiter).
    Raises SecurityConfigError (a ValueError) when the production key is missing or unusable, so
    the server refuses to start with a message that names the setting (the settings themselves
    have already checked the hosts, origins and audience).
    """
    production = settings.env == "production"
    message_rate = parse_rate(settings.ws_message_rate, "AURALIS_WS_MESSAGE_RATE")
    message_limiter = MessageRateLimiter(message_rate)
    slots = listener_slots(settings)
    app.state.listener_slots = slots
    if not production:
        limiter = make_http_limiter(enabled=False)
        app.state.limiter = limiter
        app.add_exception_handler(RateLimitExceeded, rate_limit_exceeded_handler)
        app.add_middleware(
            SecurityGateMiddleware, policy=GatePolicy(), slots=slots, message_limiter=message_limiter
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
    app.state.token_verifier = verifier  # the sessions hold streams to their tokens' expiry
    hosts = list(settings.allowed_hosts)
    origins = list(settings.allowed_origins)

    limiter = make_http_limiter(enabled=True, redis_url=settings.redis_url or None)
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, rate_limit_exceeded_handler)
    # add_middleware puts each new one outside the previous: the last added runs first.
    connect_rate = parse_rate(settings.ws_connect_rate, "AURALIS_WS_CONNECT_RATE")
    app.add_middleware(
        SecurityGateMiddleware,
        policy=GatePolicy(verifier=verifier, allowed_origins=tuple(origins), check_origin=True),
        slots=slots,
        connect_limiter=ConnectionRateLimiter(connect_rate, redis_url=settings.redis_url or None),
        message_limiter=message_limiter,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT"],
        allow_headers=["Authorization", "Content-Type"],
    )
    if settings.https_redirect:
        app.add_middleware(HTTPSRedirectMiddleware)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    app.add_middleware(SecurityHeadersMiddleware)
    log.info(
        "production security: JWT %s, hosts %s, origins %s, rate-limit storage %s, "
        "listeners %d (per address %d, per subject %d, headroom %d)",
        "+".join(verifier.algorithms),
        ",".join(hosts),
        ",".join(origins) or "(same origin only)",
        "redis" if settings.redis_url else "memory",
        slots.total,
        settings.max_listeners_per_address,
        settings.max_listeners_per_subject,
        slots.headroom,
    )
    return limiter
