"""The stereo image: L/R correlation, FluidSynth's reverb ranges, and the anti-phase check.

**Why it matters.** FluidSynth's reverb mixes its two wet outputs as
``wet1 = level * (width / 2 + 0.5)`` and ``wet2 = level * (1 - width) / 2``: a width above 1
makes ``wet2`` negative, so the reverb comes out partly in opposite phase on the two channels.
With the ambient mix's large reverb sends the wet signal dominates, and a width of 90 gave an
L/R correlation of about -0.9: a mono downmix (phone, smart or Bluetooth speaker) played the
music about 13 LU quieter, the piano's body cancelled (issue 13). The default width and level
were chosen by measuring every preset (docs/benchmarks.md, ``bench/bench_stereo.py --sweep``).

**Checks.** A render configuration is refused with a ``ValueError`` that says why when

- a reverb setting lies outside FluidSynth's documented range (:data:`REVERB_RANGES`, as
  ``fluidsettings.xml`` and ``fluid_settings_getnum_range`` give them); checked when the
  :class:`~auralis.audio.renderer.RenderConfig` is built;
- its output is anti-phase: a short test chord, one note on every voice of the mix with its
  reverb send, pan and width, rendered through the configuration's actual synth, reverb and
  voice placement (auralis.audio.voicemix), has an L/R
  correlation below 0 (:func:`check_stereo_image`; needs the SoundFont, so it runs when a
  renderer or stream engine is built, once per configuration and SoundFont).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: FluidSynth 2.x's documented ranges of the reverb settings (min, max).
REVERB_RANGES: dict[str, tuple[float, float]] = {
    "synth.reverb.room-size": (0.0, 1.0),
    "synth.reverb.damp": (0.0, 1.0),
    "synth.reverb.width": (0.0, 100.0),
    "synth.reverb.level": (0.0, 1.0),
}

#: The lowest L/R correlation of the test chord that a configuration may have.
MIN_TEST_CORRELATION = 0.0
TEST_NOTE_S = 1.0  # the chord sounds this long ...
TEST_TAIL_S = 1.0  # ... then the reverb rings this long
TEST_PITCH = 60
TEST_VELOCITY = 100


def correlation(x: np.ndarray) -> float:
    """L/R correlation of a (frames, 2) signal: sum(L*R) / sqrt(sum(L^2) sum(R^2)), within
    [-1, 1]; +1 identical channels, 0 unrelated, -1 opposite phase. NaN when a channel is
    silent."""
    x = np.asarray(x, dtype=np.float64)
    left, right = x[:, 0], x[:, 1]
    den = math.sqrt(float(left @ left) * float(right @ right))
    return float(left @ right) / den if den > 0 else float("nan")


def validate_reverb_settings(settings: Mapping[str, Any]) -> None:
    """Raise ValueError for a reverb setting outside FluidSynth's documented range."""
    for name, (lo, hi) in REVERB_RANGES.items():
        if name not in settings:
            continue
        value = settings[name]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        if not lo <= value <= hi:
            raise ValueError(
                f"{name} must be within {lo:g}..{hi:g} (FluidSynth's documented range), "
                f"got {value!r}"
            )


_checked: dict[tuple[Any, ...], float] = {}
_checked_lock = threading.Lock()


def chord_correlation(
    soundfont: str | os.PathLike[str],
    settings: Mapping[str, Any],
    voices: Iterable[Any],
) -> float:
    """L/R correlation of the test chord rendered with ``settings`` (FluidSynth settings) and
    ``voices`` (channel, program, gain, reverb_send, pan, width), cached per SoundFont and
    configuration."""
    from auralis.audio.fluid import FluidSynth
    from auralis.audio.mixer import cc7_for_gain
    from auralis.audio.voicemix import VoiceMix

    voices = tuple(voices)
    key = (
        str(Path(soundfont).resolve()),
        tuple(sorted((k, repr(v)) for k, v in settings.items())),
        tuple(
            (v.channel, v.program, v.gain, v.reverb_send, getattr(v, "pan", 0.0), getattr(v, "width", 1.0))
            for v in voices
        ),
    )
    with _checked_lock:
        if key in _checked:
            return _checked[key]
    sr = int(settings.get("synth.sample-rate", 44100))
    synth = FluidSynth(settings)
    try:
        sfont_id = synth.sfload(soundfont)
        if sfont_id < 0:
            raise ValueError(f"SoundFont {soundfont}: FluidSynth fails to load it")
        for v in voices:
            synth.program_select(v.channel, sfont_id, 0, v.program)
            synth.cc(v.channel, 7, cc7_for_gain(v.gain))
            synth.cc(v.channel, 91, v.reverb_send)
            synth.cc(v.channel, 93, 0)
            synth.noteon(v.channel, TEST_PITCH, TEST_VELOCITY)
        on, tail = int(TEST_NOTE_S * sr), int(TEST_TAIL_S * sr)
        mix = VoiceMix(voices, int(settings.get("synth.audio-groups", 1)))
        planes = mix.planes(on + tail)
        buf = np.zeros((on + tail, 2), dtype=np.float32)
        synth.process(planes, 0, on, mix.n_out, mix.n_fx)
        for v in voices:
            synth.noteoff(v.channel, TEST_PITCH)
        synth.process(planes, on, tail, mix.n_out, mix.n_fx)
        mix.mix(planes, buf, 0, on + tail)
    finally:
        synth.close()
    corr = correlation(buf)
    with _checked_lock:
        _checked[key] = corr
    return corr


def check_stereo_image(
    soundfont: str | os.PathLike[str],
    settings: Mapping[str, Any],
    voices: Iterable[Any],
) -> float:
    """Refuse (ValueError) a configuration whose test chord is anti-phase or silent; returns
    the test chord's correlation."""
    corr = chord_correlation(soundfont, settings, voices)
    width = settings.get("synth.reverb.width")
    level = settings.get("synth.reverb.level")
    if not math.isfinite(corr):
        raise ValueError(
            "the render configuration leaves a channel silent on a test chord "
            f"(reverb width {width}, level {level})"
        )
    if corr < MIN_TEST_CORRELATION:
        raise ValueError(
            f"the render configuration is anti-phase: a test chord through its reverb "
            f"(width {width}, level {level}) has an L/R correlation of {corr:+.2f}, below "
            f"{MIN_TEST_CORRELATION:+.1f}; a mono downmix would cancel it. FluidSynth's wet "
            "outputs go out of phase for a reverb width above 1: use a width within 0..1"
        )
    return corr
