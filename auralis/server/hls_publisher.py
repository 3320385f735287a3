"""HLS publishing: which instance writes each station's HLS, and the threads that write it.

With ``AURALIS_HLS_DIR`` set, every station in ``AURALIS_HLS_STATIONS`` (default: all) is
published as HLS into ``<dir>/<station>/`` (``index.m3u8`` and its segments; the segmenter is
`auralis.streaming.hls`). nginx (or a CDN in front of it) serves that directory at ``/hls/``;
in development `auralis serve` serves it too (`auralis.server.hls_routes`).

**One writer per station.** Several instances may share the directory. With
``AURALIS_REDIS_URL`` they elect, per station, the instance that writes it with a Redis lock
(redis-py's :class:`~redis.asyncio.lock.Lock`, key ``auralis:hls:<station>``, a TTL of
``AURALIS_HLS_LOCK_TTL_S``). The writer renews it every third of the TTL; the others try to take
it every ``POLL_S``. When the writer dies (even by SIGKILL) its lock expires within the TTL and
another instance takes over: it starts the station if it was not playing here and writes from the
segment the station is in, numbered by station time, so the playlist goes on with the same
numbering. Without Redis (one instance) this instance just writes.

**A lease, checked before each write.** The writer may write until ``sent + TTL - margin``,
where ``sent`` is when its last successful acquire or renewal left for Redis: the lock cannot
have expired before then. The writer thread asks before every file it writes; past the lease
(renewals failing, Redis gone, the loop stalled) it writes nothing more and stops, so two
instances never write the same station at once. Redis unreachable: no instance can prove it
holds the lock, so none writes (said once in the log) until Redis answers again.

**Threads.** The election and the pump (a station reader that hands each chunk's PCM frame to
the writer) run on the event loop and do no work per chunk beyond a queue put. Encoding and file
writes run in one thread per published station (``auralis-hls-<station>``). While this instance
writes a station, its reader keeps the station playing (always on).
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from auralis.server.settings import Settings
from auralis.streaming.fanout import ReaderDropped, SourceClosed
from auralis.streaming.frames import unpack_frame
from auralis.streaming.hls import PLAYLIST, HlsSegmenter, SegmentInfo
from auralis.streaming.stations import Station, Stations

log = logging.getLogger("auralis.server.hls")

#: How often a standby instance tries to take a station's lock.
POLL_S = 0.5
#: Chunks queued for a writer thread (10 s); past that (the disk is stuck) chunks are dropped.
QUEUE_CHUNKS = 100
LOCK_PREFIX = "auralis:hls:"


def lease_margin(ttl_s: float) -> float:
    """How long before the lock's expiry the writer stops writing (clock rate and I/O slack)."""
    return min(1.0, ttl_s / 5)


class Election(Protocol):
    """Who writes a station. Each call returns the lease's end (``time.monotonic()``), or None
    when this instance does not (or no longer) hold the station's lock."""

    async def acquire(self, name: str) -> float | None: ...

    async def renew(self, name: str) -> float | None: ...

    async def release(self, name: str) -> None: ...

    async def close(self) -> None: ...


class LocalElection:
    """No Redis: this instance is the only one, and always writes."""

    async def acquire(self, name: str) -> float | None:
        return math.inf

    async def renew(self, name: str) -> float | None:
        return math.inf

    async def release(self, name: str) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisElection:
    """One redis-py lock per station, with a TTL the holder renews (see the module docstring)."""

    def __init__(self, url: str, ttl_s: float, *, prefix: str = LOCK_PREFIX) -> None:
        import redis.asyncio as aioredis

        self.ttl_s = ttl_s
        self.prefix = prefix
        timeout = max(0.5, ttl_s / 4)
        self.redis = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._locks: dict[str, Any] = {}
        self.reachable: bool | None = None  # None: not asked yet
        self.error: str | None = None

    def _lock(self, name: str) -> Any:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = self.redis.lock(
                self.prefix + name, timeout=self.ttl_s, blocking=False, thread_local=False
            )
        return lock

    def _lease(self, sent: float) -> float:
        return sent + self.ttl_s - lease_margin(self.ttl_s)

    def _unreachable(self, exc: BaseException) -> None:
        if self.reachable is not False:
            log.warning(
                "HLS: Redis unreachable; no instance writes HLS until it answers",
                extra={"event": "hls_redis_down", "error": str(exc) or exc.__class__.__name__},
            )
        self.reachable = False
        self.error = str(exc) or exc.__class__.__name__

    def _reached(self) -> None:
        if self.reachable is False:
            log.info("HLS: Redis answers again", extra={"event": "hls_redis_up"})
        self.reachable = True
        self.error = None

    async def acquire(self, name: str) -> float | None:
        from redis.exceptions import RedisError

        sent = time.monotonic()
        try:
            ok = await self._lock(name).acquire(blocking=False)
        except (RedisError, OSError) as exc:
            self._unreachable(exc)
            return None
        self._reached()
        return self._lease(sent) if ok else None

    async def renew(self, name: str) -> float | None:
        from redis.exceptions import LockError, LockNotOwnedError, RedisError

        sent = time.monotonic()
        try:
            await self._lock(name).reacquire()
        except LockNotOwnedError:  # Redis says it is not ours any more (expired, maybe taken)
            self._reached()
            return None
        except LockError:  # not held here at all (redis-py asked nothing)
            return None
        except (RedisError, OSError) as exc:
            self._unreachable(exc)
            return None
        self._reached()
        return self._lease(sent)

    async def release(self, name: str) -> None:
        from redis.exceptions import LockError, RedisError

        try:
            await self._lock(name).release()
        except (LockError, RedisError, OSError):
            pass  # expired or unreachable: it lapses by itself

    async def close(self) -> None:
        try:
            await self.redis.aclose()
        except Exception:  # noqa: BLE001 - closing a dead connection
            pass


@dataclass
class HlsState:
    """What /api/stations says about one station's HLS (measured here)."""

    segments_written: int = 0  # by this instance, since it started
    last_segment: int | None = None
    elected: int = 0  # times this instance became the writer
    writer: StationWriter | None = None  # while this instance holds the lock

    @property
    def writing(self) -> bool:
        """This instance writes the station now: its writer runs and its lease holds."""
        w = self.writer
        return w is not None and w.alive and w.may_write()


class StationWriter:
    """The thread that encodes and writes one station's HLS while this instance holds its lock."""

    def __init__(self, station: str, directory: Path, settings: Settings, state: HlsState) -> None:
        self.station = station
        self.directory = directory
        self.settings = settings
        self.state = state
        self.lease_until = -math.inf  # time.monotonic() until which writing is allowed
        self.dropped = 0
        self.error: BaseException | None = None
        self._queue: queue.Queue[tuple[int, bytes] | None] = queue.Queue(QUEUE_CHUNKS)
        self._thread = threading.Thread(target=self._run, name=f"auralis-hls-{station}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def may_write(self) -> bool:
        return time.monotonic() < self.lease_until

    def put(self, index: int, frame: bytes) -> None:
        """(event loop) Hand over one chunk's PCM frame; never waits."""
        try:
            self._queue.put_nowait((index, frame))
        except queue.Full:
            self.dropped += 1  # the writer is stuck: the segmenter starts a new run after the gap

    def stop(self, timeout: float = 5.0) -> None:
        """(any thread) End the thread; the unfinished segment is dropped."""
        self.lease_until = -math.inf
        while True:
            try:
                self._queue.put_nowait(None)
                break
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        s = self.settings
        try:
            seg = HlsSegmenter(
                self.directory,
                segment_s=s.hls_segment_s,
                window=s.hls_window,
                bitrate_kbps=s.hls_bitrate_kbps,
                may_write=self.may_write,
            )
        except Exception as exc:  # noqa: BLE001 - reported in the log and /api/stations
            self.error = exc
            log.error("HLS %s: cannot start the writer: %s", self.station, exc,
                      extra={"event": "hls_failed", "station": self.station})
            return
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                index, frame = item
                for info in seg.feed(index, unpack_frame(frame).payload):
                    self._written(info)
                if seg.closed:  # the lease lapsed
                    return
        except Exception as exc:  # noqa: BLE001 - this station's HLS stops; the election restarts it
            self.error = exc
            log.exception("HLS %s: the writer failed", self.station,
                          extra={"event": "hls_failed", "station": self.station})
        finally:
            seg.close()

    def _written(self, info: SegmentInfo) -> None:
        self.state.segments_written += 1
        self.state.last_segment = info.number


class HlsPublisher:
    """Every published station's election and writer (see the module docstring)."""

    def __init__(self, settings: Settings, *, election: Election | None = None) -> None:
        if settings.hls_dir is None:
            raise ValueError("HLS needs AURALIS_HLS_DIR")
        self.settings = settings
        self.directory = Path(settings.hls_dir)
        self.names = settings.hls_station_names()
        self.ttl_s = settings.hls_lock_ttl_s
        if election is None:
            election = (
                RedisElection(settings.redis_url, self.ttl_s) if settings.redis_url else LocalElection()
            )
        self.election = election
        self.states = {name: HlsState() for name in self.names}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    def url_path(self, name: str) -> str:
        return f"/hls/{name}/{PLAYLIST}"

    def info(self, name: str) -> dict[str, Any] | None:
        """This station's HLS facts for /api/stations, or None if it is not published."""
        st = self.states.get(name)
        if st is None:
            return None
        return {
            "playlist": (self.directory / name / PLAYLIST).is_file(),  # written (by any instance)
            "writing": st.writing,
            "segments_written": st.segments_written,
            "last_segment": st.last_segment,
            "elected": st.elected,
            "segment_s": self.settings.hls_segment_s,
        }

    async def start(self, hub: Stations) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for name in self.names:
            self._tasks.append(asyncio.create_task(self._keep(hub[name]), name=f"hls-{name}"))
        log.info("HLS publishing", extra={"event": "hls_started", "stations": self.names,
                                          "dir": str(self.directory),
                                          "election": type(self.election).__name__})

    async def stop(self) -> None:
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.election.close()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep; True when the publisher is stopping."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _keep(self, station: Station) -> None:
        """Forever: win the station's lock, then write it for as long as the lock is ours."""
        name = station.name
        state = self.states[name]
        renew_every = self.ttl_s / 3
        while not self._stopping.is_set():
            lease = await self.election.acquire(name)
            if lease is None:
                if await self._sleep(POLL_S):
                    return
                continue
            writer = StationWriter(name, self.directory / name, self.settings, state)
            writer.lease_until = lease
            writer.start()
            state.writer = writer
            state.elected += 1
            log.info("HLS: writing station %s", name, extra={"event": "hls_writer", "station": name})
            pump = asyncio.create_task(self._pump(station, writer))
            try:
                while writer.alive and not pump.done():
                    if await self._sleep(renew_every):
                        break
                    lease = await self.election.renew(name)
                    if lease is None:
                        log.warning("HLS: lost the lock of station %s; stopped writing", name,
                                    extra={"event": "hls_lost", "station": name})
                        break
                    writer.lease_until = lease
            finally:
                writer.lease_until = -math.inf
                state.writer = None
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)
                await asyncio.to_thread(writer.stop)
                await self.election.release(name)
            if writer.error is not None and await self._sleep(1.0):
                return

    async def _pump(self, station: Station, writer: StationWriter) -> None:
        """Read the station's PCM frames and hand them to the writer (restarting after a failure)."""
        while True:
            try:
                reader = station.listen("pcm")
            except RuntimeError:  # the stations are closing
                return
            try:
                async for packet in reader:
                    writer.put(packet.index, packet.data)  # type: ignore[arg-type]
                return  # the stations closed
            except (ReaderDropped, SourceClosed) as exc:
                log.warning("HLS %s: the station's audio stopped (%s); rejoining", station.name, exc)
            finally:
                reader.close()
            await asyncio.sleep(1.0)


def make_publisher(settings: Settings) -> HlsPublisher | None:
    """The server's publisher, or None when HLS is off (no AURALIS_HLS_DIR)."""
    return HlsPublisher(settings) if settings.hls_dir is not None else None

