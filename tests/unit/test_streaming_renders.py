"""Downloads of what a listener heard: a live stream (real engine, real FluidSynth, parameter
changes handed over while its workers render) against renders of its timeline. MIDI must be
identical, audio byte-identical from the stream's start, and correlated >= 0.99 later on."""

from __future__ import annotations

import subprocess
import time
import wave
from pathlib import Path

import av
import mido
import numpy as np
import pytest

from auralis.audio.offline import MAX_PREROLL_S, RELEASE_S, SPAN_GRID_FRAMES, compose_span, render_span, synthesis_start
from auralis.music.events import Event
from auralis.music.export import write_midi
from auralis.music.params import MusicParams
from auralis.music.timeline import Timeline, span_events
from auralis.streaming.chunk import CHUNK_SECONDS
from auralis.streaming.engine import StreamEngine
from auralis.streaming.renders import render_file

SEED = 4242
P0 = MusicParams(key=62).with_preset("focus")
CHANGE_1 = P0.with_changes(mode="lydian", bpm=72.0, intensity=0.7)
CHANGE_2 = CHANGE_1.with_changes(key=65, mode="aeolian", bpm=52.0)
CHUNKS = 700  # 70 s


@pytest.fixture(scope="module")
def heard(soundfont_path: Path):
    """A stream as a listener gets it: its chunks, every event its composer gave, its timeline."""
    with StreamEngine(soundfont_path, workers=2) as engine:
        produced = []
        with engine._cond:  # (a reentrant lock) no worker picks the stream before the spy is in place
            stream = engine.open_stream(P0, SEED, lead_chunks=3)
            composer = stream._composer  # a spy on the stream's own composer: what it produced
            real = composer.events_until

            def spy(t: float):
                out = real(t)
                produced.extend(out)
                return out

            composer.events_until = spy  # type: ignore[method-assign]
        chunks = []
        deadline = time.monotonic() + 120
        while len(chunks) < CHUNKS:
            c = stream.pop()
            if c is None:
                assert stream.error is None and time.monotonic() < deadline
                time.sleep(0.0005)
                continue
            chunks.append(c)
            if len(chunks) in (87, 88):  # two changes in a row: the composer keeps the latest
                stream.update_params(CHANGE_2 if len(chunks) == 87 else CHANGE_1)
            if len(chunks) == 261:
                stream.update_params(CHANGE_2)
        timeline = stream.timeline
        stream.close()
    pcm = np.frombuffer(b"".join(c.pcm for c in chunks), dtype="<i2").reshape(-1, 2)
    return pcm, produced, timeline, chunks


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(float).ravel(), b.astype(float).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_the_stream_records_its_timeline(heard) -> None:
    _, _, timeline, chunks = heard
    assert timeline.seed == SEED and timeline.params == P0
    # (the two changes handed over back to back share a beat unless a worker crossed one between them)
    assert [c.params for c in timeline.changes][-2:] == [CHANGE_1, CHANGE_2]
    assert timeline.changes[0].beat < timeline.changes[1].beat
    # the chunks say the same: each change is heard from its recorded seq on
    for change in timeline.changes:
        assert chunks[change.seq].params == change.params and chunks[change.seq - 1].params != change.params


def test_a_render_from_the_start_is_the_stream_byte_for_byte(heard, soundfont_path: Path) -> None:
    pcm, produced, timeline, _ = heard
    end = CHUNKS * CHUNK_SECONDS
    parts: list[bytes] = []
    res = render_span(Timeline.from_json(timeline.to_json()), 0.0, end, on_pcm=parts.append, soundfont=soundfont_path)
    assert res.rendered_from == 0.0
    assert b"".join(parts) == pcm.tobytes()
    assert res.events == span_events(produced, 0.0, end)
    # a partial span from 0 is the same samples
    parts = []
    render_span(timeline, 0.0, 12.345, on_pcm=parts.append, soundfont=soundfont_path)
    assert b"".join(parts) == pcm[: round(12.345 * 44100)].tobytes()


def test_the_last_seconds_have_identical_midi_and_audio_correlating_above_099(heard, soundfont_path: Path, tmp_path: Path) -> None:
    pcm, produced, timeline, _ = heard
    start, end = 48.0, CHUNKS * CHUNK_SECONDS  # after both changes, on the 16 s grid
    parts: list[bytes] = []
    res = render_span(timeline, start, end, on_pcm=parts.append, soundfont=soundfont_path)
    assert res.rendered_from <= start - 16
    got = np.frombuffer(b"".join(parts), dtype="<i2").reshape(-1, 2)
    want = pcm[round(start * 44100) :]
    assert got.shape == want.shape
    c = corr(got, want)
    assert c >= 0.99, c
    # MIDI: the span of what the stream's composer produced, written the same way, is identical
    expected = span_events(produced, start, end)
    assert res.events == expected
    assert compose_span(timeline, start, end) == expected
    a, b = tmp_path / "render.mid", tmp_path / "stream.mid"
    write_midi(res.events, a)
    write_midi(expected, b)
    assert a.read_bytes() == b.read_bytes()
    notes = [m for m in mido.MidiFile(a) if m.type == "note_on" and m.velocity > 0]
    assert len(notes) >= 5
    # without the pre-roll the held notes are struck anew at the span's start: the measure can fail
    parts = []
    cold_res = render_span(timeline, start, end, on_pcm=parts.append, soundfont=soundfont_path, preroll_s=0)
    assert cold_res.rendered_from == start and cold_res.events == expected
    cold = np.frombuffer(b"".join(parts), dtype="<i2").reshape(-1, 2)
    assert corr(cold[:44100], want[:44100]) < 0.99 <= c


def test_synthesis_starts_on_the_grid_before_every_note_still_sounding_near_the_span() -> None:
    def ev(t: float, kind: str, pitch: int, vel: int = 0) -> Event:
        return Event(t, kind, 1, pitch, vel)

    sr, grid = 44100, SPAN_GRID_FRAMES
    # nothing held: the least pre-roll, on the grid (100 - 16 = 84 -> 80)
    assert synthesis_start([], 100 * sr, sr) == 80 * sr
    # a note from 50 s ending 95 s (after 100 - RELEASE_S): start at its onset or before -> 48
    evs = [ev(50.0, "note_on", 60, 50), ev(95.0, "note_off", 60)]
    assert synthesis_start(evs, 100 * sr, sr) == 48 * sr
    # the same note ending early enough does not count
    evs = [ev(50.0, "note_on", 60, 50), ev(100 - RELEASE_S - 0.5, "note_off", 60)]
    assert synthesis_start(evs, 100 * sr, sr) == 80 * sr
    # a note still held at the span (never released), from 20.5 s -> 16
    assert synthesis_start([ev(20.5, "note_on", 61, 50)], 100 * sr, sr) == 16 * sr
    # a drone held for longer than MAX_PREROLL_S: the furthest start
    far = synthesis_start([ev(1.0, "note_on", 40, 50)], 2000 * sr, sr)
    assert far == (2000 * sr - int(MAX_PREROLL_S * sr)) // grid * grid
    assert far % grid == 0 and grid % 4410 == 0 and grid % 64 == 0 and grid % 44100 == 0


def test_files_in_each_format_read_back_with_decoders_we_did_not_write(heard, soundfont_path: Path, tmp_path: Path) -> None:
    pcm, produced, timeline, _ = heard
    start, end = 2.0, 12.0
    w = render_file(timeline, start, end, "wav", tmp_path / "a.wav", soundfont=soundfont_path)
    with wave.open(str(w), "rb") as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()) == (2, 2, 44100, 441000)
        assert f.readframes(f.getnframes()) == pcm[88200:529200].tobytes()  # pre-roll reaches 0: exact
    o = render_file(timeline, start, end, "ogg", tmp_path / "a.ogg", soundfont=soundfont_path)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels:format=duration",
         "-of", "default=nw=1", str(o)], capture_output=True, text=True, check=True,
    ).stdout
    assert "codec_name=opus" in probe and "channels=2" in probe
    duration = float(probe.split("duration=")[1].split()[0])
    assert abs(duration - 10.0) < 0.1, probe
    with av.open(str(o)) as container:
        decoded = np.concatenate([fr.to_ndarray().reshape(-1, 2) if not fr.format.is_planar else fr.to_ndarray().T
                                  for fr in container.decode(audio=0)]).astype(float)
    assert abs(len(decoded) - 480000) < 4800
    ref = pcm[88200:529200].astype(float) / 32768
    ref48 = np.interp(np.arange(int(len(ref) * 48000 / 44100)) * 44100 / 48000, np.arange(len(ref)), ref[:, 0])
    window = slice(48000, 3 * 48000)  # 2 s from 1 s in; the decoder trims the pre-skip, the resampler delays a little
    best = max(corr(decoded[48000 + k : 3 * 48000 + k, 0], ref48[window]) for k in range(-64, 64))
    assert best > 0.95, best
    m = render_file(timeline, start, end, "midi", tmp_path / "a.mid")
    assert 5.0 < mido.MidiFile(m).length <= 10.01
    with pytest.raises(ValueError, match="format"):
        render_file(timeline, start, end, "mp3", tmp_path / "a.mp3")
    assert not list(tmp_path.glob(".*tmp"))


def test_auralis_render_takes_the_same_timeline_file(heard, soundfont_path: Path, tmp_path: Path) -> None:
    import json
    import sys

    pcm, _, timeline, _ = heard
    script = Path(sys.executable).with_name("auralis")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "auralis.cli"]
    doc = tmp_path / "timeline.json"
    doc.write_text(json.dumps(timeline.with_end(3.0).to_json()))
    wav = tmp_path / "t.wav"
    r = subprocess.run([*cmd, "render", "--timeline", str(doc), "--wav", str(wav), "--midi", str(tmp_path / "t.mid"),
                        "--soundfont", str(soundfont_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with wave.open(str(wav), "rb") as f:
        assert f.readframes(f.getnframes()) == pcm[: 3 * 44100].tobytes()  # to the timeline's end
    assert (tmp_path / "t.mid").stat().st_size > 100
    for extra, message in (
        (["--seed", "3"], "--seed cannot go with --timeline"),
        (["--preset", "sleep"], "--preset cannot go with --timeline"),
        (["--from", "5", "--to", "2"], "end"),
    ):
        r = subprocess.run([*cmd, "render", "--timeline", str(doc), "--wav", str(wav), *extra],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and message in r.stderr, r.stderr
    doc.write_text('{"format": "auralis-timeline", "version": 1, "seed": 1, "params": {"bpm": 9}}')
    r = subprocess.run([*cmd, "render", "--timeline", str(doc), "--wav", str(wav)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "timeline.params.bpm" in r.stderr, r.stderr
    r = subprocess.run([*cmd, "render", "--timeline", str(tmp_path / "missing.json"), "--wav", str(wav)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "cannot read the timeline" in r.stderr, r.stderr
