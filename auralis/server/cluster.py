"""What the instances of a cluster share through Redis (``AURALIS_REDIS_URL``).

Several instances behind one load balancer (`docs/deploy.md`) share little:

- rate-limit counters (`auralis.server.ratelimit`, through slowapi and limits);
- listener counts (`auralis.server.cluster_counts`): each instance writes its own every
  ``AURALIS_CLUSTER_HEARTBEAT_S`` and reads the others', for a cluster-wide listener cap
  (``AURALIS_CLUSTER_MAX_LISTENERS``) and the totals of ``/api/stations``;
- operators' station changes (`auralis.server.station_relay`): published to every instance over
  Redis pub/sub and applied at the same station time.

`Cluster` runs one heartbeat task per instance. Every Redis call has a short socket timeout
(`auralis.server.redis_link`) and no retries, so an unreachable Redis never holds up a request: the
instance goes on serving with its own limits and counts, logs the loss once (and the return
once), says so in ``/health`` (``"redis": "unreachable"``), and picks up again by itself when
Redis answers: it writes its counts, re-subscribes, catches up on station changes it missed and
publishes the ones its operators made meanwhile.

Without a Redis URL there is no `Cluster` at all: one instance works exactly as on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from auralis.server.cluster_counts import ClusterCounts, LocalCounts
from auralis.server.redis_link import LINK_ERRORS, RedisLink
from auralis.server.station_relay import StationRelay


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
            "listeners_elsewhere": sum(e.open for e in live.values()),
            "relay": self.relay.state,
        }
