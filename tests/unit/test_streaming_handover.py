"""The GIL hand-overs between a render thread's stages (`auralis.streaming.handover`): where a
listener stream's and a station's render threads make them, and that the audio is the same."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from auralis.audio.renderer import Renderer
from auralis.music.params import MusicParams
from auralis.streaming import handover
from auralis.streaming.chunk import Chunk
from auralis.streaming.engine import StreamEngine
from auralis.streaming.station_specs import DEFAULT_STATIONS
from auralis.streaming.stations import PcmPassthrough, Stations


class Steps:
    """What the render threads did, in order, per thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_thread: dict[int, list[str]] = {}

    def add(self, step: str) -> None:
        with self.lock:
            self.by_thread.setdefault(threading.get_ident(), []).append(step)


@pytest.fixture()
def steps(monkeypatch: pytest.MonkeyPatch) -> Steps:
    """Records every hand-over and every stage of every renderer (the real ones run)."""
    rec = Steps()
    raw, finish = Renderer.render_raw, Renderer.finish

    def render_raw(self, events, n_frames):  # type: ignore[no-untyped-def]
        out = raw(self, events, n_frames)
        rec.add("raw")
        return out

    def finished(self, block):  # type: ignore[no-untyped-def]
        rec.add("finish")
        return finish(self, block)

    real_hand_over = handover.hand_over

    def hand_over() -> None:
        rec.add("hand-over")
        real_hand_over()

    monkeypatch.setattr(Renderer, "render_raw", render_raw)
    monkeypatch.setattr(Renderer, "finish", finished)
    monkeypatch.setattr(handover, "hand_over", hand_over)
    return rec


class RecordingEncoder:
    """A trivial real encoder (int16 -> 8-bit) that records when it runs."""

    format = "pcm8"
    binary = True
    header = None

    def __init__(self, rec: Steps) -> None:
        self.rec = rec

    def encode(self, chunk: Chunk) -> bytes:
        self.rec.add("encode")
        return (np.frombuffer(chunk.pcm, dtype="<i2") >> 8).astype(np.int8).tobytes()

    def close(self) -> None:
        pass


def chunk_steps(seq: list[str]) -> list[list[str]]:
    """The steps of each chunk (a chunk starts at its FluidSynth block, "raw")."""
    out: list[list[str]] = []
    for s in seq:
        if s == "raw" or not out:
            out.append([])
        out[-1].append(s)
    return out


def test_a_listener_stream_hands_the_gil_over_after_each_stage(soundfont_path: Path, steps: Steps) -> None:
    engine = StreamEngine(soundfont_path, workers=1)
    try:
        stream = engine.open_stream(MusicParams(), seed=7, encoder=RecordingEncoder(steps), lead_chunks=3)
        got = []
        deadline = time.monotonic() + 20
        while len(got) < 6:
            assert time.monotonic() < deadline, "the stream did not render"
            chunk = stream.pop()
            if chunk is None:
                time.sleep(0.005)
            else:
                got.append(chunk)
        stream.close()
    finally:
        engine.close()
    seqs = [s for s in steps.by_thread.values() if "raw" in s]
    assert len(seqs) == 1  # one render thread
    per_chunk = chunk_steps(seqs[0])
    assert len(per_chunk) >= 6
    for one in per_chunk[:-1]:  # the last may be cut by the close
        assert one == ["raw", "hand-over", "finish", "hand-over", "encode", "hand-over"], one
    # the frame is what the encoder made of the chunk's audio
    for chunk in got:
        assert chunk.frame == (np.frombuffer(chunk.pcm, dtype="<i2") >> 8).astype(np.int8).tobytes()


def test_a_listener_stream_skips_the_hand_overs_when_the_render_threads_are_busy(
    soundfont_path: Path, steps: Steps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handover, "HANDOVER_MAX_LOAD", -1.0)  # any measured share counts as busy
    engine = StreamEngine(soundfont_path, workers=1)
    try:
        stream = engine.open_stream(MusicParams(), seed=7, encoder=RecordingEncoder(steps), lead_chunks=3)
        deadline = time.monotonic() + 20
        got = 0
        while got < 4:
            assert time.monotonic() < deadline, "the stream did not render"
            if stream.pop() is None:
                time.sleep(0.005)
            else:
                got += 1
        stream.close()
    finally:
        engine.close()
    (seq,) = [s for s in steps.by_thread.values() if "raw" in s]
    per_chunk = chunk_steps(seq)
    assert len(per_chunk) >= 4
    for one in per_chunk[:-1]:
        assert one == ["raw", "finish", "encode"], one


def test_hand_overs_are_wanted_up_to_the_busy_share_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert handover.wanted(0.0)
    assert handover.wanted(handover.HANDOVER_MAX_LOAD)
    assert not handover.wanted(handover.HANDOVER_MAX_LOAD + 0.01)
    assert not handover.wanted(1.0)
    monkeypatch.setattr(handover, "HANDOVER_S", 0.0)  # off
    assert not handover.wanted(0.0)

def test_a_station_hands_the_gil_over_after_each_stage(soundfont_path: Path, steps: Steps) -> None:
    hub = Stations(
        DEFAULT_STATIONS[:1],
        soundfont_path,
        encoders={"pcm": PcmPassthrough, "pcm8": lambda: RecordingEncoder(steps)},
        idle_s=5.0,
        preroll_chunks=2,
    )
    hub.start()
    name = DEFAULT_STATIONS[0].name

    async def listen() -> list:
        reader = hub.listen(name, "pcm8")
        got = [await reader.next() for _ in range(5)]
        reader.close()
        return got

    try:
        got = asyncio.run(asyncio.wait_for(listen(), 30))
    finally:
        hub.close()
    seqs = [s for s in steps.by_thread.values() if "encode" in s]
    assert len(seqs) == 1
    per_chunk = [c for c in chunk_steps(seqs[0]) if "encode" in c]  # the preroll is not encoded
    assert len(per_chunk) >= 5
    for one in per_chunk[:-1]:
        assert one == ["raw", "hand-over", "finish", "hand-over", "encode", "hand-over"], one
    assert all(len(p.data) == len(got[0].data) > 0 for p in got)

