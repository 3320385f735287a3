"""The stereo image checks: correlation, FluidSynth's reverb ranges, anti-phase refusal."""

from __future__ import annotations

import ctypes as C
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from auralis.audio import fluid
from auralis.audio.renderer import RenderConfig, Renderer
from auralis.audio.stereo import REVERB_RANGES, check_stereo_image, chord_correlation, correlation
from auralis.streaming.engine import StreamEngine


def test_correlation_of_known_signals() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(50_000), rng.standard_normal(50_000)
    assert correlation(np.stack([a, a], 1)) == pytest.approx(1.0)
    assert correlation(np.stack([a, -a], 1)) == pytest.approx(-1.0)
    assert abs(correlation(np.stack([a, b], 1))) < 0.02
    assert np.isnan(correlation(np.stack([a, 0 * a], 1)))


def test_reverb_ranges_are_fluidsynths_own() -> None:
    """The documented ranges match what the loaded libfluidsynth reports."""
    lib = fluid.library()
    f = lib.fl.fluid_settings_getnum_range
    f.argtypes = [C.c_void_p, C.c_char_p, C.POINTER(C.c_double), C.POINTER(C.c_double)]
    f.restype = C.c_int
    st = lib.new_settings()
    try:
        for name, (lo, hi) in REVERB_RANGES.items():
            a, b = C.c_double(), C.c_double()
            assert f(st, name.encode(), C.byref(a), C.byref(b)) == 0
            assert (a.value, b.value) == (lo, hi), name
    finally:
        lib.delete_settings(st)


@pytest.mark.parametrize(
    "field,value",
    [("reverb_width", 100.5), ("reverb_width", -0.1), ("reverb_width", float("nan")),
     ("reverb_level", 1.2), ("reverb_room_size", -0.5), ("reverb_damping", 2.0)],
)
def test_out_of_range_reverb_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match="synth.reverb.*(range|finite)"):
        RenderConfig(**{field: value})


def test_out_of_range_reverb_in_extra_settings_refused() -> None:
    with pytest.raises(ValueError, match="synth.reverb.width must be within 0..100"):
        RenderConfig(extra_settings={"synth.reverb.width": 150.0})


def test_default_mix_is_in_phase_on_the_test_chord(soundfont_path: Path) -> None:
    c = RenderConfig()
    assert check_stereo_image(soundfont_path, c.synth_settings(), c.voices) > 0.3  # measured +0.43


def test_anti_phase_config_refused_by_renderer_and_engine(soundfont_path: Path) -> None:
    """Width 90 (the old default) is inside FluidSynth's range but anti-phase: refused, with
    nothing left running."""
    bad = RenderConfig(reverb_width=90.0)
    assert chord_correlation(soundfont_path, bad.synth_settings(), bad.voices) < 0
    with pytest.raises(ValueError, match="anti-phase.*width 90.*correlation of -0"):
        Renderer(soundfont_path, bad)
    live = set(fluid._live_synths)
    with pytest.raises(ValueError, match="anti-phase"):
        StreamEngine(soundfont_path, workers=1, config=bad)
    assert not any(not s.closed for s in set(fluid._live_synths) - live)


def test_width_at_one_still_in_phase(soundfont_path: Path) -> None:
    ok = dataclasses.replace(RenderConfig(), reverb_width=1.0)
    with Renderer(soundfont_path, ok) as r:
        assert not r.closed
