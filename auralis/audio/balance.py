"""Per-note level compensation for SoundFont instruments that are uneven across pitches.

FluidR3's Contrabass (GM 43) differs by about 13 dB across the composer's bass range (MIDI
36-47) at equal velocity: its samples are recorded at different levels. The table gives each
pitch's measured level (dB, 2.5-3 s of a velocity-60 note, relative to the mean over the range);
:func:`compensate` scales the velocity so every pitch sounds at about the mean level. FluidSynth's
velocity curve is ``gain_dB = 40 log10(v / 127)``, so a correction of ``d`` dB multiplies the
velocity by ``10 ** (d / 40)``. Each entry is the level of a 2.5 s velocity-60 note (0.5-3 s) relative to the range mean;
tests/unit/test_audio_balance.py checks the result (spread within 3 dB).
"""

from __future__ import annotations

#: (program, pitch) -> level in dB relative to the instrument's mean over the range measured.
LEVEL_DB: dict[int, dict[int, float]] = {
    43: {36: 2.8, 37: 1.2, 38: 1.0, 39: 4.5, 40: 4.2, 41: 3.5, 42: -0.5, 43: -0.7, 44: 1.5,
         45: -8.3, 46: -6.9, 47: -2.5},
}


def compensate(program: int, pitch: int, velocity: int) -> int:
    """The velocity that brings `pitch` of `program` to the instrument's mean level (1-127)."""
    d = LEVEL_DB.get(program, {}).get(pitch)
    if d is None:
        return velocity
    return max(1, min(127, int(round(velocity * 10 ** (-d / 40)))))
