"""Listener counts across the instances of a cluster, through one Redis hash.

Each instance writes its own entry to the hash :data:`KEY` (field: its instance id; value: JSON
``{"at": unix time, "open": listeners, "stations": {station: {transport: n}}}``) at every
heartbeat, and reads everyone's in the same round trip. An entry older than ``stale_s`` (three
heartbeats) is an instance that died or lost Redis: it no longer counts, and it is deleted once
it is a minute old. So a SIGKILLed instance's listeners leave the totals within three heartbeats,
and nothing has to be decremented by a process that no longer exists.

The figures of other instances are as of their last heartbeat (1 s by default): the cluster-wide
cap can be overshot by the listeners admitted elsewhere within one heartbeat.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auralis.server.redis_link import RedisLink

log = logging.getLogger("auralis.server.cluster")

KEY = "auralis:cluster:listeners"
#: Entries this old are deleted from the hash (by whichever instance reads them).
FORGET_AFTER_S = 60.0


@dataclass(frozen=True)
class LocalCounts:
    """Where this instance's own figures come from: open listeners in all (the connection gate's
    count) and listeners per ``(station, transport)``."""

    open: Callable[[], int]
    stations: Callable[[], Mapping[tuple[str, str], int]]


@dataclass(frozen=True)
class Entry:
    at: float
    open: int
    stations: dict[str, dict[str, int]] = field(default_factory=dict)


def parse_entry(raw: bytes | str) -> Entry | None:
    """An instance's entry, or None if it is not one (never trusted blindly: it came over the
    network)."""
    try:
        data = json.loads(raw)
        at, n, stations = data["at"], data["open"], data.get("stations", {})
        if not isinstance(at, (int, float)) or isinstance(n, bool) or not isinstance(n, int) or n < 0:
            return None
        clean = {
            str(name): {str(t): int(c) for t, c in by_t.items() if isinstance(c, int) and c >= 0}
            for name, by_t in stations.items()
            if isinstance(by_t, dict)
        }
        return Entry(float(at), n, clean)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


class ClusterCounts:
    def __init__(self, link: RedisLink, instance_id: str, local: LocalCounts, *, stale_s: float) -> None:
        self.link = link
        self.instance_id = instance_id
        self.local = local
        self.stale_s = stale_s
        self._others: dict[str, Entry] = {}

    def own_entry(self) -> str:
        stations: dict[str, dict[str, int]] = {}
        for (name, transport), n in self.local.stations().items():
            if n:
                stations.setdefault(name, {})[transport] = n
        return json.dumps({"at": time.time(), "open": self.local.open(), "stations": stations})

    async def beat(self) -> None:
        """Write this instance's entry and read the others' (one round trip)."""
        entry = self.own_entry()

        async def exchange(client: Any) -> Any:
            async with client.pipeline(transaction=False) as pipe:
                pipe.hset(KEY, self.instance_id, entry)
                pipe.hgetall(KEY)
                return await pipe.execute()

        _, everyone = await self.link.call(exchange)
        now = time.time()
        others: dict[str, Entry] = {}
        forget: list[Any] = []
        for raw_id, raw in everyone.items():
            iid = raw_id.decode(errors="replace") if isinstance(raw_id, bytes) else str(raw_id)
            if iid == self.instance_id:
                continue
            parsed = parse_entry(raw)
            if parsed is None or now - parsed.at > FORGET_AFTER_S:
                forget.append(raw_id)
            elif now - parsed.at <= self.stale_s:
                others[iid] = parsed
        self._others = others
        if forget:
            await self.link.call(lambda client: client.hdel(KEY, *forget))

    async def withdraw(self) -> None:
        """This instance leaves (clean shutdown): its listeners stop counting at once."""
        await self.link.call(lambda client: client.hdel(KEY, self.instance_id))

    def others(self) -> dict[str, Entry]:
        """The other live instances' entries, as of the last heartbeat."""
        return dict(self._others)

    def elsewhere_total(self) -> int:
        return sum(e.open for e in self._others.values())

    def station_elsewhere(self, name: str) -> dict[str, int]:
        """Listeners of station `name` per transport on the other live instances."""
        out: dict[str, int] = {}
        for e in self._others.values():
            for transport, n in e.stations.get(name, {}).items():
                out[transport] = out.get(transport, 0) + n
        return out
