"""Offline rendering: a whole piece to a WAV file (and its MIDI), faster than real time.

The piece is rendered exactly as a live stream renders it (same composer, same renderer,
same 4,410-frame blocks), so a stream's chunks and an offline render with the same seed and
parameters carry the same audio. The file is ``minutes`` long: the music stops
``min(4 s, 10 %)`` before the end so notes and reverb ring out, and the last 0.5 s fades to
silence. The 16-bit conversion is TPDF-dithered (auralis.audio.dither) with noise seeded
from ``seed``, so the same arguments give byte-identical files (and no timestamps go in the
headers). Files are written to a temporary name and renamed, so a failure leaves nothing
half-written.

`render_span` renders a span of a live stream's music from its parameter timeline
(`auralis.music.timeline`): the downloads of what a listener heard (docs/renders.md).
"""

from __future__ import annotations

import math
import os
import sys
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from auralis.audio.dither import TpdfDither
from auralis.audio.renderer import RenderConfig, Renderer, to_pcm16
from auralis.audio.soundfont import find_soundfont, validate_soundfont
from auralis.music.events import marker_palette
from auralis.music.palettes import PALETTES
from auralis.music.params import MusicParams
from auralis.music.timeline import Chase, Timeline, TimelineComposer, span_events

BLOCK_FRAMES = 4410  # the stream chunk size (100 ms at 44.1 kHz)
MAX_MINUTES = 24 * 60
FADE_S = 0.5
TAIL_S = 4.0

ProgressFn = Callable[[int, int], None]

#: Where a render from the middle of a piece may start: a multiple of the 4,410-frame chunk (the
#: stream's blocks), of FluidSynth's 64-frame voice grid (onsets) and of its reverb's modulation
#: (a 1 Hz LFO on the delay lines, stepped every 50 frames from the synth's creation): 705,600
#: frames, 16 s. Off this grid the reverb's modulation runs at another phase and the audio never
#: correlates above ~0.9 with the stream's, however long it plays (measured).
SPAN_GRID_FRAMES = 705_600
#: The least pre-roll (reverb tails, the DC blocker, the loudness ride and the limiter settle).
MIN_PREROLL_S = 16.0
#: A note sounding where synthesis starts is struck there afresh: its sample loop runs at another
#: phase than the stream's until the note ends. So a render starts before the onset of every note
#: that still sounds RELEASE_S before the span (its release and reverb included; docs/renders.md).
RELEASE_S = 8.0
#: The furthest back a render starts (a drone held for longer is accepted, less exactly).
MAX_PREROLL_S = 600.0


@dataclass(frozen=True, slots=True)
class OfflineResult:
    wav_path: Path
    midi_path: Path | None
    frames: int
    wall_s: float
    events: int

    @property
    def speed(self) -> float:
        """Audio seconds rendered per wall-clock second."""
        return self.frames / 44100 / self.wall_s if self.wall_s > 0 else math.inf


class _TtyProgress:
    """A one-line progress bar on stderr."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.last = -1.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        frac = done / total if total else 1.0
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        wall = now - self.t0
        speed = (done / 44100) / wall if wall > 0 else 0.0
        self.stream.write(
            f"\rrendering [{bar}] {frac * 100:5.1f}%  {done / 44100 / 60:5.2f}/"
            f"{total / 44100 / 60:.2f} min  {speed:5.1f}x real time"
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _progress_fn(progress: bool | ProgressFn | None) -> ProgressFn | None:
    if callable(progress):
        return progress
    if progress is None:
        progress = sys.stderr.isatty()
    return _TtyProgress() if progress else None


def render_offline(
    wav_path: str | os.PathLike[str],
    *,
    minutes: float,
    seed: int,
    params: MusicParams,
    midi_path: str | os.PathLike[str] | None = None,
    soundfont: str | os.PathLike[str] | None = None,
    progress: bool | ProgressFn | None = None,
    config: RenderConfig = RenderConfig(),
) -> OfflineResult:
    """Compose and render ``minutes`` of music to a 44.1 kHz 16-bit stereo WAV.

    ``progress``: None shows a bar when stderr is a terminal; True/False force it; a callable
    gets ``(frames_done, frames_total)``. Raises ValueError (SoundFontError included) for bad
    arguments before anything is written.
    """
    from auralis.music.composer import Composer

    if (
        isinstance(minutes, bool)
        or not isinstance(minutes, (int, float))
        or not math.isfinite(minutes)
    ):
        raise ValueError(f"minutes must be a finite number, got {minutes!r}")
    if not 0 < minutes <= MAX_MINUTES:
        raise ValueError(f"minutes must be within 0..{MAX_MINUTES}, got {minutes!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if not isinstance(params, MusicParams):
        raise ValueError(f"params must be MusicParams, got {type(params).__name__}")
    wav_path = Path(wav_path)
    midi_out = Path(midi_path) if midi_path is not None else None
    for p in (wav_path, midi_out):
        if p is not None and not p.parent.is_dir():
            raise ValueError(f"output directory {p.parent} does not exist")
    sf = find_soundfont(soundfont)
    validate_soundfont(sf, PALETTES[params.palette].programs)

    sr = config.sample_rate
    total = int(round(minutes * 60 * sr))
    duration = total / sr
    release_at = duration - min(TAIL_S, 0.1 * duration)
    fade_frames = min(int(FADE_S * sr), total // 4)
    report = _progress_fn(progress)

    composer = Composer(params=params, seed=seed)
    dither = TpdfDither(seed)  # as a stream with this seed dithers its chunks
    all_events: list[Any] = []
    released = False
    tmp_wav = wav_path.with_name(f".{wav_path.name}.{os.getpid()}.tmp")
    t0 = time.perf_counter()
    try:
        with Renderer(sf, config, palette=params.palette) as renderer, wave.open(str(tmp_wav), "wb") as wf:
            wf.setnchannels(2)
            wf.setsampwidth(2)
            wf.setframerate(sr)
            done = 0
            while done < total:
                n = min(BLOCK_FRAMES, total - done)
                end_t = (done + n) / sr
                if released:
                    events: list[Any] = []
                elif end_t >= release_at:
                    events = composer.events_until(release_at) + composer.release_all(release_at)
                    released = True
                else:
                    events = composer.events_until(end_t)
                all_events.extend(events)
                audio = renderer.render(events, n)
                fade_start = total - fade_frames
                if done + n > fade_start:
                    idx = np.clip(np.arange(done, done + n) - fade_start, 0, fade_frames)
                    gain = 0.5 * (1 + np.cos(np.pi * idx / fade_frames))  # raised-cosine fade
                    audio = audio * gain[:, None].astype(np.float32)
                wf.writeframesraw(to_pcm16(audio, dither))
                done += n
                if report is not None:
                    report(done, total)
        os.replace(tmp_wav, wav_path)
    except BaseException:
        tmp_wav.unlink(missing_ok=True)
        raise
    wall = time.perf_counter() - t0
    if midi_out is not None:
        from auralis.music.export import write_midi

        tmp_mid = midi_out.with_name(f".{midi_out.name}.{os.getpid()}.tmp")
        try:
            write_midi(all_events, tmp_mid)
            os.replace(tmp_mid, midi_out)
        except BaseException:
            tmp_mid.unlink(missing_ok=True)
            raise
    return OfflineResult(wav_path, midi_out, total, wall, len(all_events))


@dataclass(frozen=True, slots=True)
class SpanResult:
    frames: int  # frames handed to ``on_pcm`` (the span)
    rendered_from: float  # seconds: where synthesis started (the pre-roll's start)
    events: list[Any]  # the span's events as a piece of its own (what its MIDI file holds)
    wall_s: float


def _span_frames(start: float, end: float, sr: int) -> tuple[int, int]:
    for name, v in (("start", start), ("end", end)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a non-negative number of seconds, got {v!r}")
    start_f, end_f = int(round(start * sr)), int(round(end * sr))
    if end_f <= start_f:
        raise ValueError(f"end ({end!r} s) must come after start ({start!r} s)")
    if end_f > MAX_MINUTES * 60 * sr:
        raise ValueError(f"end must be within {MAX_MINUTES} minutes of the stream's start, got {end!r} s")
    return start_f, end_f


def compose_span(timeline: Timeline, start: float, end: float, sample_rate: int = 44100) -> list[Any]:
    """The events of ``[start, end)`` of the timeline's music, as a piece of their own
    (`auralis.music.timeline.span_events`); composing only, no audio."""
    start_f, end_f = _span_frames(start, end, sample_rate)
    composer = TimelineComposer(timeline)
    return span_events(composer.events_until(end_f / sample_rate), start_f / sample_rate, end_f / sample_rate)


def synthesis_start(events: list[Any], start_f: int, sr: int = 44100) -> int:
    """The frame a render of a span starting at `start_f` begins synthesis at (see RELEASE_S):
    on the grid, at least MIN_PREROLL_S early, and at or before the onset of every note that
    still sounds RELEASE_S before the span; at most MAX_PREROLL_S early. `events`: the music up
    to the span's start, in order."""
    sounding: dict[tuple[int, int], float] = {}
    intervals: list[tuple[float, float]] = []
    for ev in events:
        key = (ev.channel, ev.pitch)
        if ev.kind == "note_on" and ev.velocity > 0:
            if key in sounding:
                intervals.append((sounding[key], ev.time))
            sounding[key] = ev.time
        elif ev.kind in ("note_on", "note_off") and key in sounding:
            intervals.append((sounding.pop(key), ev.time))
    intervals += [(on, math.inf) for on in sounding.values()]
    late = start_f / sr - RELEASE_S
    want = min([start_f - int(round(MIN_PREROLL_S * sr))]
               + [int(math.floor(on * sr)) for on, off in intervals if off > late])
    floor = start_f - int(round(MAX_PREROLL_S * sr))
    return max(0, max(want, floor) // SPAN_GRID_FRAMES * SPAN_GRID_FRAMES)


def render_span(
    timeline: Timeline,
    start: float,
    end: float,
    *,
    on_pcm: Callable[[bytes], None],
    preroll_s: float | None = None,
    soundfont: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
    config: RenderConfig = RenderConfig(),
) -> SpanResult:
    """Render ``[start, end)`` seconds of the music a stream with this timeline played, handing
    its 16-bit stereo PCM to ``on_pcm`` block by block.

    The composer replays the timeline from the start (composing is cheap); synthesis starts
    before ``start`` (`synthesis_start`; ``preroll_s``: exactly that much earlier instead, on the
    16 s grid `SPAN_GRID_FRAMES`) with the notes held there struck again, in the stream's own
    4,410-frame blocks and with the stream's dither. From the stream's start (synthesis reaching
    back to 0) the samples are the stream's, byte for byte; later they correlate >= 0.99 with
    them when synthesis starts before the onsets of the notes held into the span (docs/renders.md). No fade,
    no release: the span ends where it ends. ``progress(done, total)`` counts frames; an
    exception it raises stops the render. ValueError for bad arguments, before any synthesis.
    """
    if preroll_s is not None and (
        isinstance(preroll_s, bool) or not isinstance(preroll_s, (int, float)) or not 0 <= preroll_s <= MAX_PREROLL_S
    ):
        raise ValueError(f"preroll_s must be within 0..{MAX_PREROLL_S:g} seconds, got {preroll_s!r}")
    sr = config.sample_rate
    start_f, end_f = _span_frames(start, end, sr)
    sf = find_soundfont(soundfont)
    validate_soundfont(sf, config.programs)
    t0 = time.perf_counter()
    if preroll_s is None:
        begin = synthesis_start(TimelineComposer(timeline).events_until(start_f / sr), start_f, sr)
    else:
        begin = max(0, (start_f - int(round(preroll_s * sr))) // SPAN_GRID_FRAMES * SPAN_GRID_FRAMES)
    composer = TimelineComposer(timeline)
    history = composer.events_until(begin / sr) if begin else []
    held = Chase()
    held.feed(history)
    events: list[Any] = list(history)
    dither = TpdfDither(timeline.seed)
    dither.skip(begin)  # as the stream's dither stood at that frame
    total = end_f - begin
    # the palette in force where synthesis starts: the last marker composed before it
    palette = next((name for name in map(marker_palette, reversed(history)) if name), timeline.params.palette)
    with Renderer(sf, config, start_frame=begin, palette=palette) as renderer:
        pending = held.sounding(begin / sr) if begin else []
        pos = begin
        while pos < end_f:
            block = composer.events_until((pos + BLOCK_FRAMES) / sr)  # whole chunks, as the stream
            events.extend(block)
            pcm = to_pcm16(renderer.render(pending + block, BLOCK_FRAMES), dither)
            pending = []
            lo, hi = max(start_f - pos, 0), min(end_f - pos, BLOCK_FRAMES)
            if hi > lo:
                on_pcm(pcm[lo * 4 : hi * 4])
            pos += BLOCK_FRAMES
            if progress is not None:
                progress(min(pos, end_f) - begin, total)
    return SpanResult(
        frames=end_f - start_f,
        rendered_from=begin / sr,
        events=span_events(events, start_f / sr, end_f / sr),
        wall_s=time.perf_counter() - t0,
    )
