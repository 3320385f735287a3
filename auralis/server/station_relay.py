"""Operators' station changes, relayed to every instance of a cluster through Redis.

An operator's ``PUT /api/stations/NAME`` reaches one instance. That instance schedules the change
at a station time ``at`` (far enough ahead for the others to learn of it before they compose that
far, `CLUSTER_CHANGE_LEAD_CHUNKS`), and publishes it on the channel :data:`CHANNEL`::

    {"v": 1, "id": "<uuid>", "origin": "<instance id>", "station": "focus",
     "at": 29030400.5, "params": {"key": 62, "mode": "dorian", "bpm": 60.0, "intensity": 0.5}}

Every instance applies it to its own station at the same ``at`` (`Station.set_params(params,
at)`), so all of them play the same notes from the same beat on. The change is also appended to
the list :data:`LOG_KEY` (the last :data:`LOG_LENGTH`), which an instance reads when it
subscribes: one that starts later, or that lost Redis for a while, catches up on the changes it
missed (a change it learns of after its ``at`` is spliced in by the station score, see
`auralis.streaming.station_score`). Changes are told apart by ``id``, so one heard twice (the
list and the channel) applies once. A change made while Redis is away applies here at once and
is published when Redis returns.

A message is validated before it touches a station (it came over the network): an unknown
station, bad parameters or a malformed message is logged and dropped, and nothing is half-applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from auralis.server.redis_link import CALL_TIMEOUT_S, LINK_ERRORS

if TYPE_CHECKING:
    from auralis.server.redis_link import RedisLink

log = logging.getLogger("auralis.server.cluster")

CHANNEL = "auralis:stations:changes"
LOG_KEY = "auralis:stations:log"
LOG_LENGTH = 64
#: Station changes made while Redis was away, kept to publish when it returns.
PENDING_MAX = 64
#: Change ids remembered, so that a change heard twice applies once.
SEEN_MAX = 4096
#: In a cluster a change is scheduled at least this many chunks (100 ms each) ahead, so every
#: instance hears of it before composing that far (stations render 3 chunks ahead).
CLUSTER_CHANGE_LEAD_CHUNKS = 10

#: apply(station, params as a dict, at): raises ValueError/KeyError for a bad change.
Apply = Callable[[str, dict[str, Any], float], None]


class BadChange(ValueError):
    """A relayed message that is not a valid station change."""


def parse_change(raw: bytes | str) -> dict[str, Any]:
    """The message as a dict with valid types, or BadChange naming what is wrong."""
    if isinstance(raw, bytes):
        if len(raw) > 4096:
            raise BadChange("message larger than 4 KiB")
        raw = raw.decode("utf-8", errors="replace")
    try:
        msg = json.loads(raw)
    except ValueError:
        raise BadChange("not JSON") from None
    if not isinstance(msg, dict) or msg.get("v") != 1:
        raise BadChange("not a version 1 station change")
    for name in ("id", "origin", "station"):
        if not isinstance(msg.get(name), str) or not msg[name] or len(msg[name]) > 200:
            raise BadChange(f"{name} must be a non-empty string")
    at = msg.get("at")
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at):
        raise BadChange("at must be a finite number of station seconds")
    if not isinstance(msg.get("params"), dict):
        raise BadChange("params must be an object")
    return msg


class StationRelay:
    def __init__(self, link: RedisLink, instance_id: str, apply: Apply) -> None:
        self.link = link
        self.instance_id = instance_id
        self.apply = apply
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._pending: deque[str] = deque(maxlen=PENDING_MAX)
        self._reader: asyncio.Task[None] | None = None
        self._pubsub: Any = None
        self.applied = 0
        self.rejected = 0

    @property
    def state(self) -> str:
        """``subscribed``, or ``idle`` (not yet, or Redis away), with changes waiting to go out."""
        subscribed = self._reader is not None and not self._reader.done()
        return "subscribed" if subscribed else "idle"

    @property
    def pending(self) -> int:
        return len(self._pending)

    # --- out -------------------------------------------------------------------------------------

    async def publish(self, station: str, params: dict[str, Any], at: float) -> bool:
        """Relay a change this instance has applied; False if Redis is away (it goes out later)."""
        change_id = uuid.uuid4().hex
        self._remember(change_id)
        message = json.dumps(
            {"v": 1, "id": change_id, "origin": self.instance_id, "station": station, "at": at,
             "params": params}
        )
        self._pending.append(message)
        if not self.link.up:
            return False
        try:
            await self._flush()
        except LINK_ERRORS:
            return False
        return True

    async def _flush(self) -> None:
        while self._pending:
            message = self._pending[0]

            async def push(client: Any, message: str = message) -> Any:
                async with client.pipeline(transaction=False) as pipe:
                    pipe.rpush(LOG_KEY, message)
                    pipe.ltrim(LOG_KEY, -LOG_LENGTH, -1)
                    pipe.publish(CHANNEL, message)
                    return await pipe.execute()

            await self.link.call(push)
            self._pending.popleft()

    # --- in --------------------------------------------------------------------------------------

    async def ensure_subscribed(self) -> None:
        """Subscribe (if not yet, or again after a loss), catch up from the log, send what waits."""
        if self._reader is not None and not self._reader.done():
            await self._flush()
            return
        await self.close()
        pubsub = self.link.client.pubsub(ignore_subscribe_messages=True)
        try:
            await asyncio.wait_for(pubsub.subscribe(CHANNEL), CALL_TIMEOUT_S)
        except LINK_ERRORS as exc:
            with contextlib.suppress(*LINK_ERRORS):
                await pubsub.aclose()
            self.link.mark_down(exc)
            raise
        self._pubsub = pubsub
        # subscribed first, then the log: a change published in between is heard twice (once)
        history = await self.link.call(lambda client: client.lrange(LOG_KEY, 0, -1))
        for raw in history:
            self.receive(raw)
        self._reader = asyncio.create_task(self._read(pubsub), name="auralis-station-relay")
        await self._flush()

    async def _read(self, pubsub: Any) -> None:
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None and message.get("type") == "message":
                    self.receive(message["data"])
        except LINK_ERRORS as exc:
            self.link.mark_down(exc)

    def receive(self, raw: bytes | str) -> bool:
        """Apply one relayed change unless already applied; True if it was applied now."""
        try:
            msg = parse_change(raw)
        except BadChange as exc:
            self.rejected += 1
            log.warning("station change from redis ignored: %s", exc, extra={"event": "relay_rejected"})
            return False
        if msg["id"] in self._seen:
            return False
        self._remember(msg["id"])
        try:
            self.apply(msg["station"], msg["params"], float(msg["at"]))
        except (ValueError, KeyError, TypeError) as exc:
            self.rejected += 1
            log.warning(
                "station change from redis ignored: %s", exc,
                extra={"event": "relay_rejected", "station": msg["station"][:40], "origin": msg["origin"][:64]},
            )
            return False
        self.applied += 1
        log.info(
            "station changed by another instance",
            extra={"event": "station_relayed", "station": msg["station"], "origin": msg["origin"],
                   "at": msg["at"], "params": msg["params"]},
        )
        return True

    def _remember(self, change_id: str) -> None:
        self._seen[change_id] = None
        while len(self._seen) > SEEN_MAX:
            self._seen.popitem(last=False)

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*LINK_ERRORS):
                await asyncio.wait_for(pubsub.aclose(), CALL_TIMEOUT_S)
