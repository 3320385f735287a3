"""Per-voice placement in the stereo field: each voice's dry sound on its own FluidSynth output,
narrowed, panned and summed here with the reverb (issue 12 "Space", issue 14 "Balance").

**Why.** FluidR3's grand piano (and some pads and string ensembles) are stereo samples recorded
wide: a piano loud enough to sit on top of the mix made the whole mix nearly uncorrelated (a test
chord's L/R correlation 0.08), which a mono speaker plays thin (issue 13). FluidSynth's own pan
(CC 10) moves a stereo pair but cannot narrow it. So the synth renders each MIDI channel to its own
stereo output (``synth.audio-groups``: channel c plays in group c % groups) and its reverb to the
effects output (``fluid_synth_process``); each voice's dry pair then goes through a 2x2 matrix:

- **width** ``w`` (0 mono .. 1 as sampled): mid/side, ``L' = (1+w)/2 L + (1-w)/2 R`` and mirrored;
- **pan** ``p`` (-1 left .. +1 right): a constant-power balance, ``gL = sqrt(2) cos((p+1) pi/4)``,
  ``gR = sqrt(2) sin((p+1) pi/4)`` (both 1 at the centre).

The level is the channel volume (CC 7, so the reverb send follows it; see auralis.audio.mixer).
The reverb is shared (one effects group: one reverb's CPU), fed by each voice's send (CC 91).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from auralis.music.palettes import ROLES, Palette

#: One output per role: MIDI channels 0..4 (auralis.music.events) each get their own.
AUDIO_GROUPS = len(ROLES)


@dataclass(frozen=True, slots=True)
class Voice:
    """One MIDI channel's instrument and place in the mix."""

    channel: int
    program: int  # GM program, bank 0
    gain: float  # linear, applied as CC 7 (see auralis.audio.mixer)
    reverb_send: int  # CC 91, 0-127
    pan: float = 0.0  # -1 left .. +1 right
    width: float = 1.0  # stereo width of the dry sound, 0 mono .. 1 as sampled


def voices_for(palette: Palette) -> tuple[Voice, ...]:
    """The mix of a palette's voices."""
    return tuple(
        Voice(v.channel, v.program, v.level, v.reverb_send, v.pan, v.width) for v in palette.voices
    )


def placement(pan: float, width: float) -> np.ndarray:
    """The 2x2 matrix (out = M @ [L, R]) that narrows to ``width`` and pans to ``pan``."""
    if not (-1.0 <= pan <= 1.0 and 0.0 <= width <= 1.0):
        raise ValueError(f"pan must be within -1..1 and width within 0..1, got {pan}, {width}")
    a, b = (1 + width) / 2, (1 - width) / 2
    theta = (pan + 1) * math.pi / 4
    gl, gr = math.sqrt(2) * math.cos(theta), math.sqrt(2) * math.sin(theta)
    return np.array([[gl * a, gl * b], [gr * b, gr * a]])


class VoiceMix:
    """Renders a synth's per-group outputs and mixes them by the voices' placements."""

    def __init__(self, voices: Iterable[Voice], groups: int = AUDIO_GROUPS) -> None:
        if groups < 1:
            raise ValueError(f"groups must be >= 1, got {groups}")
        self.groups = groups
        self.n_out, self.n_fx = 2 * groups, 2
        self._buf = np.zeros(0, dtype=np.float32)  # reused by planes(): no allocation per block
        self.set_voices(voices)

    def set_voices(self, voices: Iterable[Voice]) -> None:
        by_group: dict[int, list[Voice]] = {}
        for v in voices:
            by_group.setdefault(v.channel % self.groups, []).append(v)
        m = np.tile(np.eye(2), (self.groups, 1, 1))
        for g, vs in by_group.items():
            if len(vs) == 1:  # a group shared by several voices stays as sampled
                m[g] = placement(vs[0].pan, vs[0].width)
        self.matrices = m

    def planes(self, n: int) -> np.ndarray:
        """Zeroed buffers for ``n`` frames (FluidSynth adds into them): C-contiguous float32
        (n_out + n_fx, n), a view of one buffer kept for the next block (valid until then)."""
        size = (self.n_out + self.n_fx) * n
        if self._buf.size < size:
            self._buf = np.zeros(size, dtype=np.float32)
        view = self._buf[:size].reshape(self.n_out + self.n_fx, n)
        view.fill(0.0)
        return view

    def mix(self, planes: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
        """Mix columns ``start:stop`` of ``planes`` into rows ``start:stop`` of ``out`` (n, 2)."""
        if stop <= start:
            return
        dry = planes[: self.n_out, start:stop].reshape(self.groups, 2, stop - start)
        wet = planes[self.n_out :, start:stop]
        y = np.einsum("gij,gjn->in", self.matrices, dry, optimize=False) + wet
        out[start:stop] = y.T
