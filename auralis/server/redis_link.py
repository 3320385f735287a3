"""The link to Redis of one instance: a client that fails fast, and whether Redis answers.

Every call has a 0.5 s socket timeout, no retries and a 2 s bound on the whole exchange, so an
unreachable Redis never holds up a request. The link's state (``connecting``, ``connected``,
``unreachable``) is what ``/health`` reports; each change is logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger("auralis.server.cluster")

#: Socket (connect and read) timeout of every Redis call, seconds.
REDIS_TIMEOUT_S = 0.5
#: A whole Redis exchange (a pipeline) gives up after this long, whatever the sockets do.
CALL_TIMEOUT_S = 2.0
#: Errors that mean "Redis is not there" (anything else is a bug and is raised).
LINK_ERRORS = (RedisError, OSError, asyncio.TimeoutError)

LinkState = Literal["connecting", "connected", "unreachable"]


def redis_client(url: str) -> Redis:
    """An asyncio Redis client that fails fast: short timeouts, no retries."""
    return Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


class RedisLink:
    """Whether Redis answers, as this instance last saw it; logs each change of state once."""

    def __init__(self, url: str) -> None:
        self.client = redis_client(url)
        self.state: LinkState = "connecting"
        self.since = time.time()
        self.error: str | None = None
        self.losses = 0

    @property
    def up(self) -> bool:
        return self.state == "connected"

    async def call(self, fn: Callable[[Redis], Awaitable[Any]]) -> Any:
        """``await fn(client)``, bounded in time; marks the link down (and raises) on failure."""
        try:
            result = await asyncio.wait_for(fn(self.client), CALL_TIMEOUT_S)
        except LINK_ERRORS as exc:
            self.mark_down(exc)
            raise
        return result

    def mark_up(self) -> bool:
        """Redis answered; True when that is news (it was unreachable or never reached)."""
        if self.state == "connected":
            return False
        if self.state == "unreachable":
            log.warning(
                "redis recovered: shared limits, counts and station changes resume",
                extra={"event": "redis_recovered", "down_s": round(time.time() - self.since, 1)},
            )
        self.state, self.since, self.error = "connected", time.time(), None
        return True

    def mark_down(self, exc: BaseException) -> None:
        if self.state == "unreachable":
            return
        self.error = f"{exc.__class__.__name__}: {exc}"[:300]
        self.state, self.since = "unreachable", time.time()
        self.losses += 1
        log.error(
            "redis unreachable: serving with this instance's own limits and counts",
            extra={"event": "redis_unreachable", "error": self.error},
        )

    async def close(self) -> None:
        with contextlib.suppress(*LINK_ERRORS):
            await self.client.aclose()
