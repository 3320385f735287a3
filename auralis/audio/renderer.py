"""Render composer events to audio with FluidSynth, in memory.

One :class:`Renderer` is one FluidSynth synth plus the mix (voice gains, loudness ride) and
the true-peak limiter. It keeps its position in frames, so consecutive :meth:`Renderer.render`
calls form one continuous signal: the synth is never reset, notes ring over block boundaries,
and the ride and limiter carry their state.

**Timing.** Each block is split at the frame offsets of its events
(``round(time * sample_rate)`` minus the block start); the synth renders up to an event, the
event is applied, and rendering resumes. FluidSynth starts voices at its internal 64-frame
boundaries, so an onset lands at most 63 frames (1.4 ms) after its exact frame, the same
whatever the block size (blocks of 4,410 frames or one 10-minute block give identical synth
output), instead of up to a whole block late if events were applied at block starts.

**Synth settings.** Chorus off; reverb on with a large, soft room (ambient), in phase
(width 0.5, level 1.0; see :mod:`auralis.audio.stereo`); polyphony 64
with FluidSynth's voice stealing (it releases the quietest, oldest voice when full); one
effects group and 16 MIDI channels to keep per-synth memory small; one CPU core per synth
(the stream engine runs synths in parallel itself). No audio driver is ever created. Each
voice renders to its own output and is narrowed and panned by :mod:`auralis.audio.voicemix`.

**Palettes.** A ``palette NAME`` marker from the composer (auralis.music.palettes) selects the
palette's programs, levels (CC 7), reverb sends (CC 91), pans and widths, its reverb room,
damping and level, and its octave (the upper voices sound that many octaves above the written
notes), from that frame on (notes already sounding keep their instrument and pitch). A palette
whose test chord is anti-phase is refused like any configuration (auralis.audio.stereo).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from auralis.audio.balance import compensate
from auralis.audio.dcblock import DcBlocker
from auralis.audio.dither import TpdfDither
from auralis.audio.fluid import FluidSynth, captured_fluid_log
from auralis.audio.limiter import TruePeakLimiter
from auralis.audio.mixer import LOUDNESS_TARGET_LUFS, LoudnessRider, cc7_for_gain
from auralis.audio.soundfont import SoundFontError, program_label
from auralis.audio.stereo import check_stereo_image, validate_reverb_settings
from auralis.audio.voicemix import AUDIO_GROUPS, Voice, VoiceMix, voices_for
from auralis.music.events import marker_palette
from auralis.music.palettes import DEFAULT_PALETTE, PALETTES

__all__ = ["DEFAULT_VOICES", "RenderConfig", "Renderer", "Voice", "to_pcm16"]

#: The mix before any palette marker: the default palette's (auralis.music.palettes).
DEFAULT_VOICES: tuple[Voice, ...] = voices_for(PALETTES[DEFAULT_PALETTE])
_DEFAULT_REVERB = PALETTES[DEFAULT_PALETTE].reverb


@dataclass(frozen=True, slots=True)
class RenderConfig:
    sample_rate: int = 44100
    # puts the focus preset near the target before the ride. Measured, ride off, 60 s, seed 1:
    # 2.5 gave -20.4 LUFS with the old dense melody; with the phrased melody and the pad's
    # swells (issue 14) it gives -27.0, so 5.3 (+6.5 dB). (1.1 suited the old anti-phase
    # reverb, whose wet gain was ~45x larger.)
    # 5.3 -> 8.4 (+4 dB) with the palettes (issue 12), whose calibrated levels put the quietest
    # (bright, seed 4) 12 dB under the target before the ride: now every palette starts within the
    # ride's +-10 dB (bench/bench_palettes.py).
    synth_gain: float = 8.4
    polyphony: int = 64
    # room, damping and level until a palette marker sets its own (the default palette's)
    reverb_room_size: float = _DEFAULT_REVERB.room_size
    reverb_damping: float = _DEFAULT_REVERB.damping
    # width and level chosen by measurement (docs/benchmarks.md, bench/bench_stereo.py --sweep):
    # every preset's L/R correlation >= +0.5 and mono downmix within 1.2 LU of the stereo
    # loudness (width 0.8 left sleep at +0.25); at this width the level hardly moves the image,
    # so the level is FluidSynth's maximum (most reverb). A width above 1 puts the reverb out of
    # phase (auralis.audio.stereo).
    reverb_width: float = 0.5
    reverb_level: float = _DEFAULT_REVERB.level
    voices: tuple[Voice, ...] = DEFAULT_VOICES
    loudness_target_lufs: float = LOUDNESS_TARGET_LUFS
    loudness_ride: bool = True
    limiter_threshold_db: float = -1.5
    extra_settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.polyphony < 32:
            raise ValueError(f"polyphony must be at least 32, got {self.polyphony}")
        for v in self.voices:
            cc7_for_gain(v.gain)
        validate_reverb_settings(self.synth_settings())

    @property
    def programs(self) -> tuple[int, ...]:
        return tuple(sorted({v.program for v in self.voices}))

    def synth_settings(self) -> dict[str, Any]:
        """FluidSynth settings (also what the benchmark passes to the fluidsynth CLI)."""
        settings: dict[str, Any] = {
            "synth.sample-rate": float(self.sample_rate),
            "synth.gain": float(self.synth_gain),
            "synth.polyphony": int(self.polyphony),
            "synth.midi-channels": 16,
            "synth.effects-groups": 1,
            # one dry output per voice (auralis.audio.voicemix)
            "synth.audio-channels": AUDIO_GROUPS,
            "synth.audio-groups": AUDIO_GROUPS,
            "synth.cpu-cores": 1,
            # Load only the samples of the selected programs (through FluidSynth's shared
            # sample cache): ~40 MB resident for FluidR3 instead of ~180 MB.
            "synth.dynamic-sample-loading": 1,
            "synth.chorus.active": 0,
            "synth.reverb.active": 1,
            "synth.reverb.room-size": float(self.reverb_room_size),
            "synth.reverb.damp": float(self.reverb_damping),
            "synth.reverb.width": float(self.reverb_width),
            "synth.reverb.level": float(self.reverb_level),
        }
        settings.update(self.extra_settings)
        return settings


def palette_settings(config: RenderConfig, name: str) -> dict[str, Any]:
    """``config``'s synth settings with palette ``name``'s reverb."""
    rv = PALETTES[name].reverb
    return {
        **config.synth_settings(),
        "synth.reverb.room-size": float(rv.room_size),
        "synth.reverb.damp": float(rv.damping),
        "synth.reverb.level": float(rv.level),
    }


def check_palettes(soundfont: str | os.PathLike[str], config: RenderConfig, names: Any) -> None:
    """Refuse (ValueError) an anti-phase palette; each check is cached, so a renderer switching
    to a checked palette later creates no synth of its own."""
    for name in names:
        check_stereo_image(soundfont, palette_settings(config, name), voices_for(PALETTES[name]))


def to_pcm16(frames: np.ndarray, dither: TpdfDither | None) -> bytes:
    """Float frames in [-1, 1] as signed 16-bit little-endian interleaved PCM, with TPDF
    ``dither`` added before rounding (None: plain rounding, for comparisons only)."""
    q = np.asarray(frames, dtype=np.float64) * 32767.0
    if dither is not None:
        q = q + dither.noise(q.shape[0], q.shape[1] if q.ndim == 2 else 1).reshape(q.shape)
    q = np.rint(q)
    np.clip(q, -32768, 32767, out=q)
    return q.astype("<i2").tobytes()


class Renderer:
    """A FluidSynth synth with the mix and limiter, rendering events to float32 stereo."""

    def __init__(
        self,
        soundfont: str | os.PathLike[str],
        config: RenderConfig = RenderConfig(),
        *,
        share_from: tuple[FluidSynth, int] | None = None,
        start_frame: int = 0,
        palette: str | None = None,
    ) -> None:
        """``share_from=(owner, sfont_id)`` uses the SoundFont ``owner`` already loaded instead
        of loading ``soundfont`` again (about 10 MB less per synth for FluidR3); see
        :meth:`FluidSynth.borrow_sfont` for the threading contract that then applies.
        ``palette``: start with that palette's mix (else ``config.voices``, until a marker).
        ``start_frame``: the piece's frame the first rendered block starts at (event times stay
        absolute); rendering from the middle of a piece (`auralis.audio.offline.render_span`)."""
        if isinstance(start_frame, bool) or not isinstance(start_frame, int) or start_frame < 0:
            raise ValueError(f"start_frame must be a non-negative integer, got {start_frame!r}")
        self.config = config
        self.soundfont = Path(soundfont)
        self.sample_rate = config.sample_rate
        self._synth = FluidSynth(config.synth_settings())
        try:
            with captured_fluid_log() as messages:
                if share_from is None:
                    sfont_id = self._synth.sfload(self.soundfont)
                else:
                    sfont_id = self._synth.borrow_sfont(*share_from)
            if sfont_id < 0:
                reason = "; ".join(m for m in messages if m) or "unknown reason"
                raise SoundFontError(
                    f"SoundFont {self.soundfont}: FluidSynth fails to load it ({reason})",
                    self.soundfont,
                )
            self._sfont_id = sfont_id
            self._programs: dict[int, int] = {}
            self._voices: tuple[Voice, ...] = config.voices
            self._transpose: dict[int, int] = {}  # channel -> semitones written -> sounding
            self._sounding: dict[tuple[int, int], int] = {}  # (channel, written) -> sounding pitch
            self._mix = VoiceMix(config.voices, int(config.synth_settings()["synth.audio-groups"]))
            self.palette: str | None = None  # the palette playing (None: config.voices)
            if palette is None:
                self._select(config.voices)
                # refuse an anti-phase mix (once per configuration and SoundFont; cached)
                check_stereo_image(self.soundfont, config.synth_settings(), config.voices)
            else:
                self.set_palette(palette)
        except BaseException:
            self._synth.close()
            raise
        self._dc = DcBlocker(config.sample_rate)
        self._rider = (
            LoudnessRider(config.sample_rate, target_lufs=config.loudness_target_lufs)
            if config.loudness_ride
            else None
        )
        self._limiter = TruePeakLimiter(
            config.sample_rate, threshold_db=config.limiter_threshold_db
        )
        self._frame = start_frame  # the piece's frame the next block starts at

    # -- state -----------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._synth.closed

    def active_voices(self) -> int:
        return self._synth.active_voices()

    # -- palettes ----------------------------------------------------------------------------
    def _select(self, voices: tuple[Voice, ...]) -> None:
        for v in voices:
            if not self._synth.program_select(v.channel, self._sfont_id, 0, v.program):
                raise SoundFontError(
                    f"SoundFont {self.soundfont}: lacks {program_label(v.program)} in bank 0",
                    self.soundfont,
                )
            self._synth.cc(v.channel, 7, cc7_for_gain(v.gain))
            self._synth.cc(v.channel, 91, v.reverb_send)
            self._synth.cc(v.channel, 93, 0)
            self._programs[v.channel] = v.program
        self._mix.set_voices(voices)
        self._voices = tuple(voices)

    def _set_transpose(self, name: str | None) -> None:
        p = PALETTES[name] if name is not None else None
        self._transpose = {v.channel: p.transpose(v.role) for v in p.voices} if p is not None else {}

    def palette_settings(self, name: str) -> dict[str, Any]:
        """The synth settings with the palette's reverb (what its stereo check renders with)."""
        return palette_settings(self.config, name)

    def set_palette(self, name: str) -> None:
        """Play ``name``'s instruments, placements and reverb from now on (ValueError if it is
        unknown, anti-phase, or needs a program the SoundFont lacks: nothing changes then)."""
        if name not in PALETTES:
            raise ValueError(f"unknown palette {name!r}")
        voices = voices_for(PALETTES[name])
        check_stereo_image(self.soundfont, self.palette_settings(name), voices)
        rv = PALETTES[name].reverb
        before = self._voices
        try:
            self._select(voices)
        except SoundFontError:
            self._select(before)  # nothing changes
            raise
        self._synth.set_reverb(rv.room_size, rv.damping, rv.level)
        self._set_transpose(name)
        self.palette = name

    # -- rendering ---------------------------------------------------------------------------
    def _apply(self, ev: Any) -> None:
        kind = ev.kind
        if kind == "note_off" or (kind == "note_on" and ev.velocity <= 0):
            # the pitch it sounds at (a palette change since its note-on keeps it)
            pitch = self._sounding.pop((ev.channel, ev.pitch), None)
            self._synth.noteoff(ev.channel, ev.pitch if pitch is None else pitch)
        elif kind == "note_on":
            pitch = min(127, ev.pitch + self._transpose.get(ev.channel, 0))
            self._sounding[(ev.channel, ev.pitch)] = pitch
            vel = min(int(ev.velocity), 127)
            program = self._programs.get(ev.channel)
            if program is not None:  # even out instruments uneven across pitches
                vel = compensate(program, pitch, vel)
            self._synth.noteon(ev.channel, pitch, vel)
        elif kind == "control":  # the composer's swells (expression, CC 11)
            self._synth.cc(ev.channel, ev.control, ev.value)
        elif kind == "marker":
            name = marker_palette(ev)
            if name is not None and name != self.palette:
                self.set_palette(name)
        # other markers and tempo changes carry no sound

    def render_raw(self, events: Iterable[Any], n_frames: int) -> np.ndarray:
        """The synth's own output for the next ``n_frames`` (float32, (n, 2)), events applied
        at their frames; no ride, no limiter."""
        if n_frames < 0:
            raise ValueError(f"n_frames must be >= 0, got {n_frames}")
        sr = self.sample_rate
        pos = self._frame
        raw = np.empty((n_frames, 2), dtype=np.float32)
        mix = self._mix
        planes = mix.planes(n_frames)
        cursor = mixed = 0
        synth = self._synth
        with synth.lock:
            for ev in events:
                if ev.kind not in ("note_on", "note_off", "control", "marker"):
                    continue
                if not (0 <= ev.channel <= 15 and 0 <= ev.pitch <= 127):
                    raise ValueError(f"event out of MIDI range: {ev!r}")
                off = math.floor(ev.time * sr + 0.5) - pos
                off = min(max(off, cursor), n_frames)
                if off > cursor:
                    synth.process(planes, cursor, off - cursor, mix.n_out, mix.n_fx)
                    cursor = off
                if ev.kind == "marker":
                    if marker_palette(ev) in (None, self.palette):
                        continue
                    mix.mix(planes, raw, mixed, cursor)  # what came before keeps the old placement
                    mixed = cursor
                self._apply(ev)
            if cursor < n_frames:
                synth.process(planes, cursor, n_frames - cursor, mix.n_out, mix.n_fx)
            mix.mix(planes, raw, mixed, n_frames)
        self._frame += n_frames
        return raw

    def render(self, events: Iterable[Any], n_frames: int) -> np.ndarray:
        """The next ``n_frames`` of finished audio (DC blocked, ridden, limited): float32
        (n_frames, 2) within [-1, 1].

        ``events`` are those whose time falls in this block (absolute seconds, sorted); late
        ones play at the block start, ones at or past its end at its end.
        """
        return self.finish(self.render_raw(events, n_frames))

    def finish(self, raw: np.ndarray) -> np.ndarray:
        """The finishing chain on the next block of :meth:`render_raw`'s output: DC blocked,
        ridden, limited, float32 within [-1, 1] (``render`` is ``finish(render_raw(...))``; a
        caller may do other work between the two, in the same order of blocks)."""
        y = self._dc.process(raw)
        if self._rider is not None:
            y = self._rider.process(y)
        y = self._limiter.process(y)
        np.clip(y, -1.0, 1.0, out=y)
        return y.astype(np.float32)

    def release_all(self) -> None:
        """Note-off on every channel (pads then ring out through their release)."""
        for v in self.config.voices:
            self._synth.all_notes_off(v.channel)

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Delete the synth (exactly once; idempotent and thread-safe)."""
        synth = getattr(self, "_synth", None)
        if synth is not None:
            synth.close()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
