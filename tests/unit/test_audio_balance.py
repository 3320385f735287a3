"""Per-note level compensation (issue 14): the contrabass is even across the bass range,
measured from real FluidSynth renders with the default synth settings."""

from __future__ import annotations

import numpy as np

from auralis.audio.balance import compensate
from auralis.audio.renderer import RenderConfig, Renderer
from auralis.audio.soundfont import find_soundfont
from auralis.music.events import BASS_CHANNEL, Event

SR = 44100


def level_db(pitch: int, velocity: int) -> float:
    with Renderer(find_soundfont(None), RenderConfig(loudness_ride=False)) as r:
        x = r.render_raw([Event(0.0, "note_on", BASS_CHANNEL, pitch, velocity)], int(SR * 2.5))
    y = x[SR // 2 :].astype(np.float64)
    return float(10 * np.log10(np.mean(y**2)))


def test_bass_is_even_across_pitches() -> None:
    for velocity in (45, 60):
        levels = [level_db(p, velocity) for p in range(36, 48)]
        assert max(levels) - min(levels) <= 3.0, levels


def test_compensation_only_touches_uneven_instruments() -> None:
    assert compensate(0, 60, 80) == 80  # the piano is left alone
    assert compensate(43, 45, 60) > 60 > compensate(43, 39, 60)  # quiet pitch up, loud down
    assert 1 <= compensate(43, 45, 127) <= 127
