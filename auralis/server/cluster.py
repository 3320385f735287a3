"""What the instances of a cluster share through Redis (``AURALIS_REDIS_URL``), and the link to it.

Several instances behind one load balancer (`docs/deploy.md`) share little:

- rate-limit counters (`auralis.server.ratelimit`, through slowapi and limits);
- listener counts (`auralis.server.cluster_counts`): each instance writes its own every
  ``AURALIS_CLUSTER_HEARTBEAT_S`` and reads the others', for a cluster-wide listener cap
  (``AURALIS_CLUSTER_MAX_LISTENERS``) and the totals of ``/api/stations``;
- operators' station changes (`auralis.server.station_relay`): published to every instance over
  Redis pub/sub and applied at the same station time.

`Cluster` runs one heartbeat task per instance. Every Redis call has a short socket timeout
(`REDIS_TIMEOUT_S`) and no retries, so an unreachable Redis never holds up a request: the
instance goes on serving with its own limits and counts, logs the loss once (and the return
once), says so in ``/health`` (``"redis": "unreachable"``), and picks up again by itself when
Redis answers: it writes its counts, re-subscribes, catches up on station changes it missed and
publishes the ones its operators made meanwhile.

Without a Redis URL there is no `Cluster` at all: one instance works exactly as on its own.
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

from auralis.server.cluster_counts import ClusterCounts, LocalCounts
from auralis.server.station_relay import StationRelay

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


class Cluster:
    """This instance's part in a cluster: the Redis link, the counts, the station relay."""

    def __init__(
        self,
        url: str,
        instance_id: str,
        *,
        local: LocalCounts,
        heartbeat_s: float,
        apply_change: Callable[[str, dict[str, Any], float], None],
    ) -> None:
        self.instance_id = instance_id
        self.link = RedisLink(url)
        self.heartbeat_s = heartbeat_s
        self.counts = ClusterCounts(self.link, instance_id, local, stale_s=3 * heartbeat_s)
        self.relay = StationRelay(self.link, instance_id, apply_change)
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._relay_ready = False

    # --- life ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="auralis-cluster")

    def stations_ready(self) -> None:
        """The stations run: station changes can be applied from now on (catching up first)."""
        self._relay_ready = True

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.relay.close()
        if self.link.up:
            with contextlib.suppress(*LINK_ERRORS):
                await self.counts.withdraw()
        await self.link.close()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.counts.beat()
                self.link.mark_up()
                if self._relay_ready:
                    await self.relay.ensure_subscribed()
            except LINK_ERRORS:
                await self.relay.close()  # re-subscribed (and caught up) when Redis returns
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.heartbeat_s)

    # --- what the rest of the server asks --------------------------------------------------------

    def listeners_elsewhere(self) -> int | None:
        """Listeners on the other live instances; None while Redis is unreachable."""
        return self.counts.elsewhere_total() if self.link.up else None

    def health(self) -> dict[str, Any]:
        live = self.counts.others() if self.link.up else {}
        return {
            "redis": self.link.state,
            "redis_since": round(self.link.since, 3),
            "redis_error": self.link.error,
            "instances": sorted([self.instance_id, *live]),
            "relay": self.relay.state,
        }
