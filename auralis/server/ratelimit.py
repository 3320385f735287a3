"""Rate limits, through slowapi and limits (no hand-written limiter).

- HTTP (production): slowapi's `Limiter`, per client address (uvicorn resolves the real client
  from ``X-Forwarded-For`` when the peer is a trusted proxy; an IPv6 client counts by its /64,
  `auralis.server.clients.client_key`). A refusal is a 429 with the contract's
  body ``{"error": "Rate limit exceeded", "retry_after": N}`` and a ``Retry-After: N`` header.
- WebSocket connections (production): new connections per client address key per window
  (`ConnectionRateLimiter`; the gate passes `client_key`, so IPv6 counts by /64).
- WebSocket messages (every mode, a rule of the protocol): per connection (`MessageRateLimiter`);
  a client over the rate gets `RATE_LIMITED` and its extra messages are dropped; one that keeps
  on is closed with 1008.

Counters live in memory unless a Redis URL is given (``AURALIS_REDIS_URL``): then the HTTP and
connection limits are shared by every instance using that Redis. If Redis becomes unreachable
the limits carry on in memory (logged) instead of failing requests. Message-rate counters are
per connection, so they always stay in memory.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage as AsyncMemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter as AsyncMovingWindowRateLimiter
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.util import get_remote_address
from starlette.requests import Request
from starlette.responses import JSONResponse

from auralis.server.clients import client_key

log = logging.getLogger("auralis.server.ratelimit")

STRATEGY = "moving-window"
#: Dropped messages a connection may accumulate within a minute before it is closed with 1008.
FLOOD_DROPS_BEFORE_CLOSE = "60/minute"
#: At most one RATE_LIMITED notice per connection per this many seconds (no error amplification).
NOTICE_INTERVAL_SEC = 1.0
#: Redis calls give up after this long (then the limits carry on in memory): an unreachable
#: Redis must not hold up requests or handshakes.
REDIS_TIMEOUT_S = 0.5
_REDIS_OPTIONS = {"socket_timeout": REDIS_TIMEOUT_S, "socket_connect_timeout": REDIS_TIMEOUT_S}


def parse_rate(value: str, setting: str) -> RateLimitItem:
    """A limits rate such as ``10/minute``; a clear ValueError naming the setting otherwise."""
    try:
        return parse(value)
    except (ValueError, TypeError):
        raise ValueError(
            f"{setting} must be a rate such as '10/minute' or '20/second', got {value!r}"
        ) from None


def describe(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    if item.multiples == 1:
        return f"{item.amount} per {unit}"
    return f"{item.amount} per {item.multiples} {unit}s"


def _redis_scheme(url: str) -> str:
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"AURALIS_REDIS_URL must be a redis:// or rediss:// URL, got {url!r}")
    return url


# --------------------------------------------------------------------------------------------
# HTTP


def client_address_key(request: Request) -> str:
    """slowapi's key: the client's address, an IPv6 client by its /64."""
    return client_key(get_remote_address(request))


def make_http_limiter(*, enabled: bool, redis_url: str | None = None) -> Limiter:
    """slowapi's limiter: per client address key, moving window, Redis-backed when `redis_url` is set."""
    storage_uri = _redis_scheme(redis_url) if redis_url else "memory://"
    return Limiter(
        key_func=client_address_key,
        storage_uri=storage_uri,
        strategy=STRATEGY,
        enabled=enabled,
        key_prefix="auralis:http",
        in_memory_fallback_enabled=bool(redis_url),
        headers_enabled=False,
        storage_options=_REDIS_OPTIONS if redis_url else {},
    )


def retry_after_seconds(request: Request) -> int:
    """Whole seconds until the limit that refused `request` admits another request (at least 1)."""
    limiter: Limiter = request.app.state.limiter
    current = getattr(request.state, "view_rate_limit", None)
    if current is None:
        return 1
    item, args = current
    try:
        reset_at = limiter.limiter.get_window_stats(item, *args).reset_time
    except Exception:  # storage trouble: fall back to the whole window
        return max(1, int(item.get_expiry()))
    return max(1, math.ceil(reset_at - time.time()))


async def rate_limit_exceeded_handler(request: Request, exc: RateLimitExceeded) -> JSONResponse:
    """The contract's 429: ``{"error": "Rate limit exceeded", "retry_after": N}``, Retry-After."""
    retry_after = retry_after_seconds(request)
    return JSONResponse(
        {"error": "Rate limit exceeded", "retry_after": retry_after},
        status_code=429,
        headers={"Retry-After": str(retry_after), "Cache-Control": "no-store"},
    )


# --------------------------------------------------------------------------------------------
# WebSocket connections


class ConnectionRateLimiter:
    """New WebSocket connections per client IP per window (shared through Redis when configured)."""

    def __init__(self, rate: RateLimitItem, *, redis_url: str | None = None) -> None:
        self.rate = rate
        self._memory = AsyncMovingWindowRateLimiter(AsyncMemoryStorage())
        self._shared = (
            AsyncMovingWindowRateLimiter(
                storage_from_string(
                    "async+" + _redis_scheme(redis_url), implementation="redispy", **_REDIS_OPTIONS
                )
            )
            if redis_url
            else None
        )
        self._shared_failed_at: float | None = None

    async def hit(self, client_ip: str) -> str | None:
        """None if the connection may proceed, else the reason to tell the client. An IPv6
        client counts by its /64."""
        key = client_key(client_ip)
        allowed = await self._hit(key)
        if allowed:
            return None
        return (
            f"too many new connections from {key}: the limit is {describe(self.rate)}; "
            "try again later"
        )

    async def _hit(self, client_ip: str) -> bool:
        key = ("auralis:ws-connect", client_ip)
        if self._shared is not None and (
            self._shared_failed_at is None or time.monotonic() - self._shared_failed_at > 5.0
        ):
            try:
                allowed = await self._shared.hit(self.rate, *key)
            except Exception as exc:  # Redis unreachable: keep limiting, in memory
                if self._shared_failed_at is None:
                    log.warning("rate-limit storage unreachable (%s): limiting in memory", exc)
                self._shared_failed_at = time.monotonic()
            else:
                if self._shared_failed_at is not None:
                    log.info("rate-limit storage recovered")
                self._shared_failed_at = None
                return allowed
        return await self._memory.hit(self.rate, *key)


# --------------------------------------------------------------------------------------------
# WebSocket messages


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    notify: bool = False
    close: bool = False
    message: str = ""


_ALLOW = Verdict(allowed=True)


class MessageRateLimiter:
    """Per-connection message rate: one in-memory storage, keyed per connection."""

    def __init__(
        self, rate: RateLimitItem, *, drops_before_close: str = FLOOD_DROPS_BEFORE_CLOSE
    ) -> None:
        self.rate = rate
        self.drops = parse_rate(drops_before_close, "drops_before_close")
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def guard(self) -> MessageGuard:
        return MessageGuard(self)


class MessageGuard:
    """One connection's message rate: `hit()` per received message, `release()` at the end."""

    def __init__(self, owner: MessageRateLimiter) -> None:
        self._owner = owner
        self._key = uuid.uuid4().hex
        self._last_notice = -math.inf

    def hit(self) -> Verdict:
        owner = self._owner
        if owner._limiter.hit(owner.rate, "msg", self._key):
            return _ALLOW
        keeps_on = not owner._limiter.hit(owner.drops, "drop", self._key)
        now = time.monotonic()
        notify = keeps_on or now - self._last_notice >= NOTICE_INTERVAL_SEC
        if notify:
            self._last_notice = now
        if keeps_on:
            message = (
                f"message rate limit exceeded ({describe(owner.rate)}) and the flood went on; "
                "closing the connection"
            )
        else:
            limit = describe(owner.rate)
            message = f"too many messages: the limit is {limit}; extra messages are dropped"
        return Verdict(allowed=False, notify=notify, close=keeps_on, message=message)

    def release(self) -> None:
        owner = self._owner
        owner._limiter.clear(owner.rate, "msg", self._key)
        owner._limiter.clear(owner.drops, "drop", self._key)
