"""Listener streams on the real engine: format, continuity, live changes, faults, shutdown."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from auralis.audio import fluid
from auralis.audio.dither import TpdfDither
from auralis.audio.renderer import Renderer, to_pcm16
from auralis.music.composer import Composer
from auralis.music.params import MusicParams
from auralis.streaming.chunk import CHUNK_BYTES, CHUNK_FRAMES, CHUNK_SECONDS, Chunk
from auralis.streaming.engine import ListenerStream, StreamEngine
from auralis.streaming.stream import AT_RISK_S, START_PATIENCE_S
from auralis.audio.renderer import RenderConfig, check_palettes  # noqa: E402,I001
from auralis.music.palettes import PALETTES  # noqa: E402,I001
from auralis.audio.soundfont import bank0_programs  # noqa: E402,I001


@pytest.fixture(scope="module")
def engine(soundfont_path: Path):
    renders: list[float] = []
    eng = StreamEngine(soundfont_path, workers=2, on_render=renders.append)
    eng.render_log = renders  # type: ignore[attr-defined]
    yield eng
    eng.close()


def pop_n(stream: ListenerStream, n: int, timeout: float = 20.0) -> list[Chunk]:
    out: list[Chunk] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        chunk = stream.pop()
        if chunk is None:
            assert stream.error is None, stream.error
            assert time.monotonic() < deadline, f"only {len(out)} of {n} chunks"
            time.sleep(0.0005)
        else:
            out.append(chunk)
    return out


def wait_for(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def pcm(chunks: list[Chunk]) -> np.ndarray:
    return np.frombuffer(b"".join(c.pcm for c in chunks), dtype="<i2").reshape(-1, 2).astype(float)


def test_chunk_format_and_metadata(engine: StreamEngine) -> None:
    p = MusicParams().with_preset("focus")
    s = engine.open_stream(p, seed=5)
    t0 = time.time()
    chunks = pop_n(s, 60)
    assert [c.seq for c in chunks] == list(range(60))
    assert all(len(c.pcm) == CHUNK_BYTES for c in chunks)
    assert all(t0 <= c.timestamp <= time.time() for c in chunks)
    assert all(b.timestamp >= a.timestamp for a, b in zip(chunks, chunks[1:]))
    assert all(c.render_ms > 0 for c in chunks)
    assert all(c.params == p for c in chunks)
    assert chunks[-1].chord and chunks[-1].section >= 1
    assert len(engine.render_log) >= 60  # type: ignore[attr-defined]
    # RMS non-silent over every second after the first
    x = pcm(chunks)[CHUNK_FRAMES * 10 :]
    rms = np.sqrt((x.reshape(-1, 44100, 2) ** 2).mean(axis=(1, 2))) / 32767
    assert (20 * np.log10(rms)).min() > -50
    s.close()


def test_stream_matches_continuous_render(engine: StreamEngine, soundfont_path: Path) -> None:
    """The chunks are one continuous signal: byte-identical to one renderer fed the same music
    block after block in a single thread (as the offline render does), and the jump across
    chunk boundaries is no larger than the jumps inside chunks."""
    p = MusicParams().with_preset("bright")
    s = engine.open_stream(p, seed=21)
    chunks = pop_n(s, 150)
    s.close()
    composer = Composer(params=p, seed=21)
    with Renderer(soundfont_path) as r:
        blocks = [
            r.render(composer.events_until((k + 1) * CHUNK_SECONDS), CHUNK_FRAMES)
            for k in range(150)
        ]
    # the stream dithers with noise seeded from its seed, continuous over chunks
    assert b"".join(c.pcm for c in chunks) == to_pcm16(np.concatenate(blocks), TpdfDither(21))
    x = pcm(chunks)
    d = np.abs(np.diff(x, axis=0)).max(axis=1)  # d[i] = jump from frame i to i+1
    boundary = d[CHUNK_FRAMES - 1 :: CHUNK_FRAMES]
    inside = np.delete(d, np.arange(CHUNK_FRAMES - 1, len(d), CHUNK_FRAMES))
    assert boundary.mean() <= inside.mean() * 1.5
    assert boundary.max() <= np.percentile(inside, 99.99)


def test_same_seed_same_bytes(engine: StreamEngine) -> None:
    p = MusicParams().with_preset("sleep")
    a, b, c = (engine.open_stream(p, seed=s) for s in (3, 3, 4))
    ca, cb, cc = (pop_n(x, 40) for x in (a, b, c))
    assert b"".join(x.pcm for x in ca) == b"".join(x.pcm for x in cb)
    assert b"".join(x.pcm for x in ca) != b"".join(x.pcm for x in cc)
    for x in (a, b, c):
        x.close()


def test_live_change_reaches_music_and_audio_within_2s(engine: StreamEngine) -> None:
    p = MusicParams(key=60).with_preset("meditation")
    new = p.with_changes(key=62, mode="dorian", bpm=75.0)
    changed = engine.open_stream(p, seed=9)
    ref = engine.open_stream(p, seed=9)
    before = pop_n(changed, 30)
    pop_n(ref, 30)
    requested_at = changed.next_seq  # stream time at which the change arrives
    eff = changed.update_params(new)
    assert changed.params == new
    assert requested_at <= eff <= requested_at + int(2.0 / CHUNK_SECONDS)
    after = pop_n(changed, 40)
    ref_after = pop_n(ref, 40)
    # metadata: chunks before eff carry the old parameters, from eff on the new ones
    assert all(c.params == p for c in before + after if c.seq < eff)
    assert all(c.params == new for c in after if c.seq >= eff)
    # audio: identical to the unchanged stream before eff, different within 2 s after it
    a, b = pcm(after), pcm(ref_after)
    cut = (eff - 30) * CHUNK_FRAMES
    assert np.array_equal(a[:cut], b[:cut])
    window = slice(cut, cut + int(2.0 * 44100))
    assert not np.array_equal(a[window], b[window])
    # no discontinuity at the change: the jump there is like any other
    d = np.abs(np.diff(a, axis=0)).max(axis=1)
    assert d[cut - 2 : cut + 2].max() <= np.percentile(d, 99.99)
    changed.close()
    ref.close()


def test_live_change_in_the_composed_midi(soundfont_path: Path) -> None:
    """The change shows in the events (what the MIDI export writes) within 2 s of stream time."""
    p = MusicParams(key=60, mode="aeolian")
    c = Composer(params=p, seed=4)
    c.events_until(3.0)
    eff = c.set_params(p.with_changes(key=62, mode="dorian"))
    assert 3.0 <= eff <= 5.0
    events = c.events_until(eff + 2.0)
    markers = [e for e in events if e.kind == "marker" and e.text == "context D dorian"]
    assert markers and markers[0].time <= 3.0 + 2.0


def test_back_pressure_and_states(engine: StreamEngine) -> None:
    s = engine.open_stream(MusicParams(), seed=1, lead_chunks=4, capacity=20)
    assert s.state in ("starting", "playing")
    wait_for(lambda: s.depth == 4)
    # the workers stay idle for this stream while its lead is full: a render beyond the lead
    # would show as next_seq 5 (bounded wait for the condition that must not happen)
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        assert s.next_seq == 4 and s.depth == 4
        time.sleep(0.005)
    assert s.state == "playing" and s.overflows == 0
    # drained after playing started: 'buffering' while fewer than 2 chunks wait; we pop each
    # chunk as soon as it exists, so the stream stays below 2 and must report buffering
    popped = pop_n(s, 4)

    def observe() -> tuple[int, str]:
        with s._lock:  # depth and state of one instant (a worker appends under this lock)
            return s.depth, s.state

    seen = [observe()]  # watched while the lead is rebuilt (each render takes ms)
    deadline = time.monotonic() + 10.0
    while seen[-1][0] < 4:
        assert time.monotonic() < deadline, seen[-1]
        seen.append(observe())
    assert [c.seq for c in popped] == list(range(4))
    assert {st for d, st in seen if d < 2} == {"buffering"}  # below 2 chunks: buffering
    assert {st for d, st in seen if d >= 2} == {"playing"}  # recovered
    assert seen[0][0] < 2 and s.next_seq == 8
    s.close()
    assert s.state == "closed"
    with pytest.raises(ValueError, match="lead_chunks"):
        engine.open_stream(MusicParams(), seed=1, lead_chunks=21, capacity=20)
    with pytest.raises(ValueError, match="seed"):
        engine.open_stream(MusicParams(), seed="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        s2 = engine.open_stream(MusicParams(), seed=2)
        try:
            s2.update_params({"bpm": 50})  # type: ignore[arg-type]
        finally:
            s2.close()


def test_buffering_state_when_drained(engine: StreamEngine) -> None:
    """With a lead of one chunk the buffer can never hold 2 once playing: always buffering."""
    s = engine.open_stream(MusicParams(), seed=8, lead_chunks=1)
    wait_for(lambda: s.depth == 1)
    assert s.state == "playing"  # not yet started playing
    pop_n(s, 1)
    assert s.state == "buffering"
    wait_for(lambda: s.depth == 1)
    assert s.state == "buffering" and s.next_seq == 2
    s.close()


def test_raise_lead_renders_further_ahead_up_to_its_limit(engine: StreamEngine) -> None:
    s = engine.open_stream(MusicParams(), seed=9, lead_chunks=1, capacity=4)
    wait_for(lambda: s.depth == 1)
    assert s.raise_lead(3) == 2
    wait_for(lambda: s.depth == 2)  # the worker rendered one more without a pop
    assert s.raise_lead(3) == 3
    wait_for(lambda: s.depth == 3)
    assert s.raise_lead(3) == 3 and s.lead_chunks == 3  # at the limit
    assert s.raise_lead(10) == 4  # never beyond the capacity
    assert s.raise_lead(10) == 4
    assert s.raise_lead(2) == 4  # a lower limit never shrinks it
    assert [c.seq for c in pop_n(s, 4)] == [0, 1, 2, 3]
    s.close()


def test_fault_isolation(engine: StreamEngine) -> None:
    good = engine.open_stream(MusicParams(), seed=1)
    bad = engine.open_stream(MusicParams(), seed=2)
    pop_n(good, 5)
    pop_n(bad, 5)
    bad.inject_fault(RuntimeError("synth exploded"))
    wait_for(lambda: bad.error is not None)
    while bad.pop() is not None:  # chunks already buffered remain poppable
        pass
    assert str(bad.error) == "synth exploded"
    assert bad.state == "error" and not bad.active
    seqs = [c.seq for c in pop_n(good, 30)]
    assert seqs == list(range(5, 35))
    assert bad.pop() is None
    assert good.active and good.error is None
    assert good in engine.streams and bad in engine.streams
    assert engine.active_streams == sum(1 for s in engine.streams if s.active)
    assert not bad.active and good.active  # the bad one is not counted, the good one is
    failures = engine.stream_failures
    good.close()
    bad.close()
    assert engine.stream_failures == failures and good not in engine.streams


def test_streams_encode_each_chunk_once_in_the_worker(engine: StreamEngine) -> None:
    from auralis.streaming import frames as F
    from auralis.streaming.encoders import make_encoder

    main = threading.get_ident()
    threads: set[int] = set()

    class Spy:
        format, binary, sample_rate = "pcm", True, 44100
        inner = make_encoder("pcm")

        def encode(self, chunk: Chunk) -> bytes:
            threads.add(threading.get_ident())
            return self.inner.encode(chunk)

        def close(self) -> None:
            pass

    s = engine.open_stream(MusicParams(), seed=31, encoder=Spy())  # type: ignore[arg-type]
    chunks = pop_n(s, 12)
    s.close()
    assert threads and main not in threads  # encoded by a render worker, not the caller
    frames = [F.unpack_frame(c.frame) for c in chunks]  # type: ignore[arg-type]
    assert [f.seq for f in frames] == list(range(12))  # seq without gaps
    assert [f.payload for f in frames] == [c.pcm for c in chunks]
    assert [f.timestamp for f in frames] == [c.timestamp for c in chunks]


def test_an_encoder_exception_ends_only_its_stream(engine: StreamEngine) -> None:
    from auralis.streaming.encoders import make_encoder

    class Broken:
        format, binary, sample_rate = "opus", True, 48000
        calls = 0
        closed = False

        def encode(self, chunk: Chunk) -> bytes:
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("encoder exploded")
            return b"x"

        def close(self) -> None:
            self.closed = True

    broken = Broken()
    bad = engine.open_stream(MusicParams(), seed=41, encoder=broken)  # type: ignore[arg-type]
    good = engine.open_stream(MusicParams(), seed=42, encoder=make_encoder("opus"))
    # the worker sets the error, then closes the encoder: wait for both (no race under load)
    wait_for(lambda: bad.error is not None and broken.closed, timeout=20)
    assert str(bad.error) == "encoder exploded" and bad.state == "error" and broken.closed
    assert [c.seq for c in iter(bad.pop, None)] == [0, 1]  # the chunks before the fault
    assert [c.seq for c in pop_n(good, 20)] == list(range(20)) and good.active
    good.close()
    bad.close()


def test_shutdown_with_live_streams(soundfont_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = fluid.library()
    deleted: list[int] = []
    real = lib.delete_synth
    # the engine's stereo-image checks (one test synth per palette, cached) before counting
    check_palettes(soundfont_path, RenderConfig(), PALETTES)
    bank0_programs(soundfont_path)  # (listed once per file, cached)
    monkeypatch.setattr(lib, "delete_synth", lambda s: (deleted.append(s), real(s))[1])
    eng = StreamEngine(soundfont_path, workers=2)
    streams = [eng.open_stream(MusicParams(), seed=i, lead_chunks=20) for i in range(6)]
    wait_for(lambda: all(s.next_seq >= 2 for s in streams), timeout=10)
    stop = threading.Event()

    def consume() -> None:  # keep them rendering while we close
        while not stop.is_set():
            for s in streams:
                s.pop()
            time.sleep(0.001)

    ours = [eng._anchor._synth] + [s._renderer._synth._synth for s in streams]  # C pointers
    assert len(set(ours)) == 7
    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    eng.close()
    elapsed = time.monotonic() - t0
    stop.set()
    t.join()
    assert elapsed < 2.0
    assert not any(th.is_alive() for th in eng._threads)
    # six stream synths and the anchor, each deleted once (other tests' synths may also go)
    assert [deleted.count(p) for p in ours] == [1] * 7
    eng.close()
    for s in streams:
        s.close()
    assert [deleted.count(p) for p in ours] == [1] * 7
    assert eng.active_streams == 0 and eng.min_depth() == 0
    with pytest.raises(RuntimeError, match="closed"):
        eng.open_stream(MusicParams(), seed=0)


def test_engine_refuses_a_wrong_file_clearly(tmp_path: Path) -> None:
    from auralis.audio.soundfont import SoundFontError

    bad = tmp_path / "song.sf2"
    bad.write_bytes(b"ID3\x04" + bytes(100))
    with pytest.raises(SoundFontError, match=r"song\.sf2.*not a RIFF file"):
        StreamEngine(bad)


def test_short_lead_by_measured_headroom(soundfont_path: Path) -> None:
    """A fresh engine: the first stream starts at the short lead (nothing renders, nothing
    waits); streams arriving while it starts find no measured cost and start at the configured
    lead, and raise the first to it; once costs are measured and the engine is quiet, a new stream
    gets the short lead."""
    with StreamEngine(soundfont_path, workers=2, short_lead_max_load=0.5) as eng:
        first = eng.open_stream(MusicParams(), seed=1, lead_chunks=3, short_lead=1)
        assert first.lead_chunks == 1 and first.short_lead_granted
        crowd = [eng.open_stream(MusicParams(), seed=10 + i, lead_chunks=3, short_lead=1) for i in range(5)]
        assert [s.lead_chunks for s in crowd] == [3] * 5
        # the crowd's starts compete with the first stream: it took the configured lead at once
        assert first.lead_chunks == 3
        wait_for(lambda: first.depth == 3)
        for s in crowd:
            s.close()
        pop_n(first, 10)  # chunk and start costs measured
        m = eng.load.measured()
        assert m.chunk_s is not None and m.start_s is not None and m.chunk_s > 0
        # the crowd's starts finished within the window: still the long lead; later, the short
        eng.load.window_s = 0.05
        wait_for(lambda: first.depth == 3 and eng.load.measured().recent_starts == 0
                 and eng.load.measured().busy_share == 0)  # its refill after the pops done too
        later = eng.open_stream(MusicParams(), seed=2, lead_chunks=3, short_lead=1)
        assert later.lead_chunks == 1
        wait_for(lambda: later.depth == 1)
        # with no room allowed (limit 0) every stream gets the configured lead
        eng.short_lead_max_load = 0.0
        pinned = eng.open_stream(MusicParams(), seed=3, lead_chunks=3, short_lead=1)
        assert pinned.lead_chunks == 3 and not pinned.short_lead_granted
        wait_for(lambda: pinned.depth == 3)
        # ... and raises the stream at the short lead to its own, which then renders ahead
        assert later.lead_chunks == 3
        wait_for(lambda: later.depth == 3)
        for s in (first, later, pinned):
            s.close()
    with pytest.raises(ValueError, match="short_lead_max_load"):
        StreamEngine(soundfont_path, workers=1, short_lead_max_load=1.5)


def test_earliest_deadline_first(engine: StreamEngine) -> None:
    """A stream's priority is when its next chunk to render will be taken: from its last pop,
    or from a period after its creation before it plays; each buffered chunk adds a period."""
    s_old = engine.open_stream(MusicParams(), seed=22, lead_chunks=1)
    wait_for(lambda: s_old.depth == 1)
    pop_n(s_old, 1)
    s_new = engine.open_stream(MusicParams(), seed=21, lead_chunks=1)
    # s_old popped before s_new was created: with the same depth its chunk is due first
    assert s_old._last_pop <= s_new._created_mono
    assert s_old._last_pop + CHUNK_SECONDS <= s_new._created_mono + CHUNK_SECONDS
    wait_for(lambda: s_new.depth == 1 and s_old.depth == 1)
    now = time.monotonic()
    assert s_old._priority(now)[1] == pytest.approx(s_old._last_pop + 2 * CHUNK_SECONDS)
    assert s_new._priority(now) == (1, pytest.approx(s_new._created_mono + 3 * CHUNK_SECONDS))  # a period of grace
    # a playing stream whose next chunk is taken within AT_RISK_S goes before a start whose
    # deadline is earlier (a crowd's), and by deadline again once it has slack
    due = s_old._last_pop + 2 * CHUNK_SECONDS
    s_new._created_mono = due - 3 * CHUNK_SECONDS - 0.05  # its first chunks due 50 ms before s_old's
    assert s_new._priority(due - AT_RISK_S + 0.01) > s_old._priority(due - AT_RISK_S + 0.01)
    assert s_new._priority(due - AT_RISK_S - 0.01) < s_old._priority(due - AT_RISK_S - 0.01)
    # ... and a start that has waited START_PATIENCE_S goes before it again (by deadline)
    assert s_new._priority(s_new._created_mono + START_PATIENCE_S) < s_old._priority(due - AT_RISK_S + 0.01)
    s_new.close()
    s_old.close()
