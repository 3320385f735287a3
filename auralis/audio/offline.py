"""Offline rendering: a whole piece to a WAV file (and its MIDI), faster than real time.

The piece is rendered exactly as a live stream renders it (same composer, same renderer,
same 4,410-frame blocks), so a stream's chunks and an offline render with the same seed and
parameters carry the same audio. The file is ``minutes`` long: the music stops
``min(4 s, 10 %)`` before the end so notes and reverb ring out, and the last 0.5 s fades to
silence. The 16-bit conversion is TPDF-dithered (auralis.audio.dither) with noise seeded
from ``seed``, so the same arguments give byte-identical files (and no timestamps go in the
headers). Files are written to a temporary name and renamed, so a failure leaves nothing
half-written.
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
from auralis.music.palettes import PALETTES
from auralis.music.params import MusicParams

BLOCK_FRAMES = 4410  # the stream chunk size (100 ms at 44.1 kHz)
MAX_MINUTES = 24 * 60
FADE_S = 0.5
TAIL_S = 4.0

ProgressFn = Callable[[int, int], None]


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
