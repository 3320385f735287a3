"""The HLS election and writer (auralis.server.hls_publisher) against a real redis-server started
here: one lock holder per station, renewal, expiry when the holder stops renewing, Redis
unreachable; and publishers writing a station's audio, only the elected one at a time.

The stations here are a real FanOut fed by a thread with a tone (chunks numbered by station
time), so no FluidSynth is needed; the server-level test with real processes, SIGKILL and nginx
is tests/integration/test_server_hls.py."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from auralis.music.params import MusicParams
from auralis.server.hls_publisher import HlsPublisher, LocalElection, RedisElection, lease_margin
from auralis.server.settings import Settings
from auralis.streaming.chunk import CHUNK_FRAMES, Chunk
from auralis.streaming.encoders import PcmEncoder
from auralis.streaming.fanout import FanOut
from auralis.streaming.stations import Packet
from tests.support.hls import parse_playlist, running_redis
from tests.support.server import free_port


@pytest.fixture(scope="module")
def redis_url():
    with running_redis() as url:
        yield url


def test_one_holder_per_station_renewed_and_taken_over_after_the_ttl(redis_url: str) -> None:
    async def go() -> None:
        a, b = RedisElection(redis_url, 2.0, prefix="t1:"), RedisElection(redis_url, 2.0, prefix="t1:")
        try:
            sent = time.monotonic()
            lease = await a.acquire("focus")
            assert lease is not None and sent + 2.0 - lease_margin(2.0) <= lease <= time.monotonic() + 2.0
            assert await b.acquire("focus") is None  # exactly one holder
            assert await b.acquire("sleep") is not None  # each station has its own lock
            assert await a.renew("focus") is not None
            # a stops renewing (as a killed process would): b takes over once the TTL ran out
            t0 = time.monotonic()
            while await b.acquire("focus") is None:
                assert time.monotonic() - t0 < 5, "no takeover"
                await asyncio.sleep(0.05)
            assert 1.5 < time.monotonic() - t0 < 3.0
            assert await a.renew("focus") is None  # a learns that it lost the lock
            await b.release("focus")
            assert await a.acquire("focus") is not None  # released: free at once
        finally:
            await a.close()
            await b.close()

    asyncio.run(go())


def test_redis_unreachable_means_nobody_writes_said_once(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        e = RedisElection(f"redis://127.0.0.1:{free_port()}/0", 2.0)
        try:
            t0 = time.monotonic()
            assert await e.acquire("focus") is None
            assert await e.acquire("focus") is None
            assert await e.renew("focus") is None
            assert time.monotonic() - t0 < 5  # nothing hangs
            assert e.reachable is False and e.error
        finally:
            await e.close()

    with caplog.at_level(logging.WARNING, logger="auralis.server.hls"):
        asyncio.run(go())
    assert sum("Redis unreachable" in r.getMessage() for r in caplog.records) == 1


class ToneStation:
    """A station stand-in: a real FanOut of AUR2 pcm packets numbered by station chunk."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.fan: FanOut[Packet] = FanOut(50)
        self._enc = PcmEncoder()

    def listen(self, fmt: str = "pcm") -> object:
        assert fmt == "pcm"
        return self.fan.reader()

    def publish(self, k: int) -> None:
        t = (k * CHUNK_FRAMES + np.arange(CHUNK_FRAMES)) / 44100
        mono = (0.2 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
        pcm = np.repeat(mono, 2).tobytes()
        chunk = Chunk(k, time.time(), pcm, 0.0, None, 0, MusicParams())
        self.fan.publish(Packet(k, chunk.timestamp, 0.0, self._enc.encode(chunk), None, 0, MusicParams()))


def feeder(stations: list[ToneStation], first: int, stop: threading.Event, period: float = 0.01) -> threading.Thread:
    """Publish chunks first, first+1, ... to every station, 10x faster than real time."""

    def run() -> None:
        k = first
        while not stop.is_set():
            for st in stations:
                st.publish(k)
            k += 1
            time.sleep(period)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def settings_for(tmp_path: Path, redis_url: str | None = None, **extra: object) -> Settings:
    return Settings(hls_dir=tmp_path, hls_stations=["focus"], hls_segment_s=2.0, hls_window=4,
                    redis_url=redis_url, **extra)


async def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


def test_without_redis_the_instance_writes(tmp_path: Path) -> None:
    async def go() -> None:
        pub = HlsPublisher(settings_for(tmp_path))
        assert isinstance(pub.election, LocalElection)
        station = ToneStation("focus")
        stop = threading.Event()
        await pub.start({"focus": station})  # type: ignore[arg-type]
        feeder([station], 40 * 1000 + 7, stop)
        try:
            await wait_for(lambda: pub.states["focus"].segments_written >= 3, 20, "segments written")
            seq, segs = parse_playlist((tmp_path / "focus" / "index.m3u8").read_text())
            info = pub.info("focus")  # read after the playlist: it counts at least what it lists
            assert info is not None and info["writing"] is True
            assert seq >= 2000 and 2000 <= int(segs[-1][0][4:-3]) <= info["last_segment"]
            assert station.fan.reader_count == 1  # the publisher's reader keeps the station playing
        finally:
            await pub.stop()
            stop.set()
        assert station.fan.reader_count == 0 and pub.info("focus")["writing"] is False  # type: ignore[index]
        assert pub.info("meditation") is None  # not published
        assert not [t for t in threading.enumerate() if t.name.startswith("auralis-hls-")]

    asyncio.run(go())


def test_two_publishers_exactly_one_writes_and_the_other_takes_over(tmp_path: Path, redis_url: str) -> None:
    async def go() -> None:
        a = HlsPublisher(settings_for(tmp_path, redis_url, hls_lock_ttl_s=2.0))
        b = HlsPublisher(settings_for(tmp_path, redis_url, hls_lock_ttl_s=2.0))
        sa, sb = ToneStation("focus"), ToneStation("focus")
        stop = threading.Event()
        await a.start({"focus": sa})  # type: ignore[arg-type]
        await wait_for(lambda: a.states["focus"].writing, 5, "a elected")
        await b.start({"focus": sb})  # type: ignore[arg-type]
        feeder([sa, sb], 20 * 5000, stop)
        try:
            await wait_for(lambda: a.states["focus"].segments_written >= 3, 20, "a writes")
            assert not b.states["focus"].writing and b.states["focus"].segments_written == 0
            assert sb.fan.reader_count == 0  # the standby does not even play the station
            # a dies without a word (no release, no more renewals): b takes over after the TTL
            a.election.release = _no_release  # type: ignore[method-assign]
            a.election.renew = _never  # type: ignore[method-assign]
            last_a = a.states["focus"].last_segment
            t0 = time.monotonic()
            await wait_for(lambda: b.states["focus"].segments_written >= 1, 10, "b takes over")
            took = time.monotonic() - t0
            assert took < 10
            assert not a.states["focus"].writing
            # b goes on with the same numbering (station time), after a's last segment
            seq, segs = parse_playlist((tmp_path / "focus" / "index.m3u8").read_text())
            assert last_a < int(segs[-1][0][4:-3]) <= b.states["focus"].last_segment  # type: ignore[operator]
        finally:
            stop.set()
            await a.stop()
            await b.stop()

    asyncio.run(go())


async def _no_release(name: str) -> None:
    return None


async def _never(name: str) -> None:
    await asyncio.sleep(3600)
