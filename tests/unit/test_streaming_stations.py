"""Stations on the real FluidSynth and FluidR3: live point, shared bytes, encoders per format,
idle stop, always-on, failure and restart, operator changes, determinism across processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from auralis.music.params import MusicParams
from auralis.streaming.chunk import CHUNK_BYTES, Chunk
from auralis.streaming.fanout import SourceClosed
from auralis.streaming.station_score import StationClock, chunk_time
from auralis.streaming.station_specs import DEFAULT_STATIONS, StationSpec
from auralis.streaming.stations import (
    Packet,
    PcmPassthrough,
    Stations,
    UnknownFormat,
    UnknownStation,
)

ROOT = Path(__file__).resolve().parents[2]


class CountingEncoder:
    """A real (if trivial) second format: int16 PCM -> 8-bit PCM, with a header and counts."""

    made: ClassVar[list[CountingEncoder]] = []

    def __init__(self) -> None:
        self.header = b"HDR8"
        self.calls = 0
        self.seqs: list[int] = []
        self.closed = False
        CountingEncoder.made.append(self)

    def encode(self, chunk: Chunk) -> bytes:
        self.calls += 1
        self.seqs.append(chunk.seq)
        return (np.frombuffer(chunk.pcm, dtype="<i2") >> 8).astype(np.int8).tobytes()

    def close(self) -> None:
        self.closed = True


def run(coro, timeout: float = 30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture()
def stations(soundfont_path: Path):
    CountingEncoder.made.clear()
    hub = Stations(
        DEFAULT_STATIONS,
        soundfont_path,
        encoders={"pcm": PcmPassthrough, "pcm8": CountingEncoder},
        idle_s=0.3,
        preroll_chunks=10,
    )
    hub.start()
    yield hub
    hub.close()


def test_listeners_share_the_live_chunks_as_the_same_objects(stations: Stations) -> None:
    async def main() -> None:
        joined = stations.clock.current_chunk()
        a = stations.listen("focus")
        b = stations.listen("focus")
        first = await a.next()
        # the live point: the chunk playing at the join, or later; at most the lead ahead
        assert joined <= first.index <= stations.clock.current_chunk() + stations.lead_chunks + 1
        got_a = [first] + [await a.next() for _ in range(19)]
        got_b = [await b.next() for _ in range(20)]
        assert [p.index for p in got_a] == list(range(first.index, first.index + 20))
        assert all(x is y for x, y in zip(got_a, got_b))  # one object for every listener
        assert all(len(p.data) == CHUNK_BYTES for p in got_a)
        audio = np.frombuffer(b"".join(p.data for p in got_a), dtype="<i2").astype(float)
        assert np.sqrt(np.mean(audio**2)) > 100  # music, not silence
        assert all(p.params == DEFAULT_STATIONS[0].params for p in got_a)
        assert got_a[-1].chord and got_a[-1].section >= 1
        # paced by the station clock: packets come no earlier than lead chunks before their time
        assert got_a[-1].timestamp >= stations.clock.wall_time(got_a[-1].index) - 0.1 * (
            stations.lead_chunks + 1
        )
        assert stations["focus"].listeners() == {"pcm": 2}
        assert stations["sleep"].state == "idle"  # nobody listens: not rendered
        a.close()
        b.close()

    run(main())


def test_one_encoder_per_format_whatever_the_listeners(stations: Stations) -> None:
    async def main() -> None:
        readers = [stations.listen("meditation", "pcm8") for _ in range(5)]
        pcm = stations.listen("meditation", "pcm")
        got = [[await r.next() for _ in range(10)] for r in readers]
        raw = [await pcm.next() for _ in range(10)]
        assert len(CountingEncoder.made) == 1
        enc = CountingEncoder.made[0]
        first = got[0][0].index
        assert all([p.index for p in g] == list(range(first, first + 10)) for g in got)
        assert all(g[i] is got[0][i] for g in got for i in range(10))
        # encoded once per chunk, not once per listener
        assert enc.calls <= stations["meditation"].chunks_rendered
        assert {p.index for p in got[0]} <= set(enc.seqs)  # chunk seq: the station chunk index
        assert readers[0].header == b"HDR8"
        assert len(got[0][0].data) == CHUNK_BYTES // 2
        by_index = {p.index: p for p in raw}
        for p in got[0]:
            if p.index in by_index:  # the 8-bit stream is the PCM stream, encoded
                ref = (
                    (np.frombuffer(by_index[p.index].data, dtype="<i2") >> 8)
                    .astype(np.int8)
                    .tobytes()
                )
                assert p.data == ref
        for r in readers:
            r.close()
        # the format without listeners is dropped with its encoder; PCM goes on
        await asyncio.to_thread(wait_for, lambda: enc.closed)
        assert stations["meditation"].listeners() == {"pcm": 1}
        await pcm.next()
        pcm.close()

    run(main())


def test_a_station_stops_when_idle_and_starts_again(stations: Stations) -> None:
    async def main() -> None:
        st = stations["bright"]
        r = stations.listen("bright")
        await r.next()
        assert st.state == "running"
        r.close()
        await asyncio.to_thread(wait_for, lambda: st.state == "idle", 5.0)
        rendered = st.chunks_rendered
        await asyncio.sleep(0.3)
        assert st.chunks_rendered == rendered  # stopped: nothing rendered while idle
        joined = stations.clock.current_chunk()
        r = stations.listen("bright")
        p = await r.next()
        assert st.starts == 2
        assert joined <= p.index <= stations.clock.current_chunk() + stations.lead_chunks + 1
        r.close()

    run(main())


def test_an_always_on_station_renders_without_listeners(soundfont_path: Path) -> None:
    spec = StationSpec("lobby", "always on", MusicParams(), 77, always_on=True)
    with Stations([spec, DEFAULT_STATIONS[0]], soundfont_path, idle_s=0.0) as hub:
        hub.start()
        wait_for(lambda: hub["lobby"].chunks_rendered >= 5)
        assert hub["lobby"].state == "running"
        assert hub["focus"].state == "idle" and hub["focus"].chunks_rendered == 0


def test_stations_on_two_render_threads(soundfont_path: Path) -> None:
    async def main() -> None:
        hub = Stations(DEFAULT_STATIONS, soundfont_path, threads=2)
        with pytest.raises(RuntimeError, match="not started"):
            hub.listen("focus")
        await asyncio.to_thread(hub.start)
        try:
            a, b = hub.listen("focus"), hub.listen("meditation")  # one on each thread
            pa = [await a.next() for _ in range(5)]
            pb = [await b.next() for _ in range(5)]
            assert pa[0].data != pb[0].data
            assert [p.index for p in pa] == list(range(pa[0].index, pa[0].index + 5))
            assert all(cpu > 0 for cpu in hub.thread_cpu_s)
        finally:
            await asyncio.to_thread(hub.close)

    run(main())


def test_a_station_far_behind_the_clock_jumps_to_the_live_chunk(soundfont_path: Path) -> None:
    """Overload (here: the clock jumps 5 s): the station renders from the live chunk on
    instead of the past, and its listeners go on."""
    offset = [0.0]
    clock = StationClock(wall=lambda: time.time() + offset[0])

    async def main() -> None:
        hub = Stations(DEFAULT_STATIONS[:1], soundfont_path, clock=clock)
        await asyncio.to_thread(hub.start)
        try:
            r = hub.listen("focus")
            before = [await r.next() for _ in range(3)]
            offset[0] = 5.0
            after = []
            while not after or after[-1].index < before[-1].index + 50:
                after.append(await r.next())
            jump = [b.index - a.index for a, b in zip([before[-1], *after], after)]
            assert max(jump) >= 40  # skipped the past: no 5 s of catch-up rendering
            assert hub["focus"].state == "running"
            for _ in range(10):  # and it is paced by the clock again, never running ahead
                p = await r.next()
                assert p.index <= clock.current_chunk() + hub.lead_chunks + 1
            r.close()
        finally:
            await asyncio.to_thread(hub.close)

    run(main())


def test_a_failing_station_ends_its_listeners_with_the_error_and_restarts(
    stations: Stations,
) -> None:
    async def main() -> None:
        bad = stations.listen("sleep")
        good = stations.listen("focus")
        await bad.next()
        await good.next()
        boom = RuntimeError("synth crashed")
        stations["sleep"].inject_fault(boom)
        with pytest.raises(SourceClosed) as info:
            for _ in range(100):
                await bad.next()
        assert info.value.error is boom
        assert stations["sleep"].state == "failed" and stations["sleep"].failures == 1
        # the other station goes on, without a gap
        seen = [await good.next() for _ in range(10)]
        assert [p.index for p in seen] == list(range(seen[0].index, seen[0].index + 10))
        # the next listener restarts it
        again = stations.listen("sleep")
        p = await again.next()
        assert stations["sleep"].state == "running" and stations["sleep"].starts == 2
        assert len(p.data) == CHUNK_BYTES
        again.close()
        good.close()

    run(main())


def test_an_operator_change_reaches_every_listener_at_the_same_chunk_within_2_s(
    stations: Stations,
) -> None:
    async def main() -> None:
        readers = [stations.listen("focus") for _ in range(3)]
        for r in readers:
            await r.next()
        new = MusicParams(key=62, mode="lydian", bpm=75, intensity=0.8)
        asked = time.time()
        change = stations.set_params("focus", new)
        switches = []
        for r in readers:
            while True:
                p: Packet = await r.next()
                if p.params == new:
                    switches.append(p)
                    break
        assert len({p.index for p in switches}) == 1  # the same station chunk for everyone
        assert switches[0].index >= change.chunk
        # heard (due to play) within 2 s of the request
        assert stations.clock.wall_time(switches[0].index) - asked < 2.0
        assert stations["focus"].params == new
        for r in readers:
            r.close()

    run(main())


def test_unknown_names_and_formats_are_refused(stations: Stations) -> None:
    with pytest.raises(UnknownStation, match="nope"):
        stations.listen("nope")
    with pytest.raises(UnknownFormat, match="pcm8"):
        stations.listen("focus", "mp3")
    with pytest.raises(TypeError):
        stations.set_params("focus", {"bpm": 50})  # type: ignore[arg-type]
    assert stations["focus"].score.changes == ()
    assert set(stations.names) == {"focus", "meditation", "sleep", "bright"}


def test_closing_the_hub_ends_every_listener(soundfont_path: Path) -> None:
    async def main() -> None:
        hub = Stations(DEFAULT_STATIONS, soundfont_path)
        await asyncio.to_thread(hub.start)
        r = hub.listen("focus")
        await r.next()
        t0 = time.monotonic()
        await asyncio.to_thread(hub.close)
        assert time.monotonic() - t0 < 5.0
        with pytest.raises(SourceClosed) as info:
            for _ in range(100):
                await r.next()
        assert info.value.error is None

    run(main())


# -- determinism across processes ------------------------------------------------------------

CHILD = r"""
import json, sys
from auralis.music.params import MusicParams
from auralis.streaming.station_specs import DEFAULT_STATIONS
from auralis.streaming.stations import Stations
out = []
def on_chunk(station, cs):
    out.append({"i": cs.index, "chord": cs.chord, "section": cs.section, "params": cs.params.as_dict(),
                "ev": [[round(e.time, 6), e.kind, e.channel, e.pitch, e.velocity, e.text] for e in cs.events]})
    print("@@" + json.dumps({"i": cs.index}), flush=True)
hub = Stations(DEFAULT_STATIONS, sys.argv[1], on_chunk=on_chunk, preroll_chunks=20)
hub.start()
print("@@" + json.dumps({"ready": True}), flush=True)
change_at = float(sys.stdin.readline())  # the operator change, as another instance would relay it
hub.set_params("focus", MusicParams(key=65, mode="lydian", bpm=72, intensity=0.7), at=change_at)
if sys.argv[2] == "listen-first":
    r = hub.listen("focus")
sys.stdin.read()  # until the test closes stdin
hub.close()
print("@@" + json.dumps({"chunks": out}), flush=True)
"""


class Child:
    """An instance serving station ``focus`` in its own process; its output read by a thread."""

    def __init__(self, soundfont: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(soundfont), "listen-first"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            cwd=ROOT,
        )
        self.ready = threading.Event()
        self.indices: list[int] = []
        self.chunks: dict[int, dict] = {}
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.startswith("@@"):  # anything else a library printed (FluidSynth's messages)
                continue
            msg = json.loads(line[2:])
            if "ready" in msg:
                self.ready.set()
            elif "i" in msg:
                self.indices.append(msg["i"])
            elif "chunks" in msg:
                self.chunks = {c["i"]: c for c in msg["chunks"]}

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        assert self.proc.wait(30) == 0
        self.thread.join(10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def test_two_processes_started_apart_play_the_same_notes_at_the_same_station_time(
    soundfont_path: Path,
) -> None:
    """Process A starts when it learns of an operator change due 3 s later; process B
    starts after the change time, so it composes its segment from the timeline. Both must
    play the same events in every chunk they both played."""
    clock = Stations([], soundfont_path).clock
    a = Child(soundfont_path)
    b = None
    try:
        assert a.ready.wait(60), "process A did not start"
        change_chunk = clock.current_chunk() + 30
        a.send(f"{chunk_time(change_chunk)!r}\n")
        wait_for(lambda: a.indices, 30)
        wait_for(lambda: clock.current_chunk() >= change_chunk + 5, 30)
        b = Child(soundfont_path)
        assert b.ready.wait(60), "process B did not start"
        b.send(f"{chunk_time(change_chunk)!r}\n")
        wait_for(lambda: len(b.indices) >= 120, 40)  # 12 s: phrased music rests for seconds
        a.stop()
        b.stop()
    finally:
        a.kill()
        if b is not None:
            b.kill()
    assert a.indices[0] < change_chunk < b.indices[0]  # A before the change, B after it
    shared = sorted(set(a.chunks) & set(b.chunks))
    assert len(shared) >= 110, f"only {len(shared)} chunks in common"
    # B's first chunk also restarts the notes sounding when it joined; from then on, identical
    for i in shared[1:]:
        assert a.chunks[i] == b.chunks[i], f"chunk {i} differs"
    played = [a.chunks[i] for i in sorted(a.chunks)]
    assert played[0]["params"]["mode"] == "dorian" and played[-1]["params"]["mode"] == "lydian"
    assert (
        sum(ev[1] in ("note_on", "note_off") for i in shared for ev in a.chunks[i]["ev"]) >= 4
    )  # notes compared
