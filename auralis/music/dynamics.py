"""Dynamics: slow random swells and the phrase's own shape.

A :class:`Swell` is a level in dB that glides by raised-cosine segments between random targets,
each segment 10-45 s long, so a rise and fall takes 20-90 s. It is a function of musical time
(seconds since the start), so it never moves faster than its segments: no pumping. Melody swells
are applied to velocities; the pad and bass follow theirs through expression (CC 11).
"""

from __future__ import annotations

import math
import random

SEGMENT_S = (10.0, 45.0)
EXPRESSION_CC = 11


class Swell:
    """A slow random level between `low_db` and 0 dB (see the module docstring)."""

    def __init__(self, rng: random.Random, low_db: float) -> None:
        self._rng = rng
        self.low_db = low_db
        self._t0 = 0.0
        self._t1 = rng.uniform(*SEGMENT_S)
        self._a = rng.uniform(low_db, 0.0)
        self._b = self._target(self._a)

    def _target(self, prev: float) -> float:
        # Alternate up and down by at least a third of the range, so each segment is a real swell.
        span = -self.low_db
        if prev > self.low_db + span / 2:
            return self._rng.uniform(self.low_db, prev - span / 3)
        return self._rng.uniform(prev + span / 3, 0.0)

    def db(self, t: float) -> float:
        """The level at `t` seconds; `t` never goes backwards between calls."""
        while t >= self._t1:
            self._t0, self._t1 = self._t1, self._t1 + self._rng.uniform(*SEGMENT_S)
            self._a, self._b = self._b, self._target(self._b)
        x = (t - self._t0) / (self._t1 - self._t0)
        return self._a + (self._b - self._a) * 0.5 * (1 - math.cos(math.pi * x))

    def unit(self, t: float) -> float:
        """The level mapped to 0 (lowest) .. 1 (loudest)."""
        return 1.0 - self.db(t) / self.low_db


def expression(db: float) -> int:
    """CC 11 value for a gain in dB under FluidSynth's GM curve (gain_dB = 40 log10(v / 127))."""
    return max(1, min(127, int(round(127 * 10 ** (db / 40)))))


def shape_curve(shape: str, x: float) -> float:
    """The phrase shape's level (0..1) at position x (0 first note .. 1 last): a peak inside,
    softer ends."""
    if shape == "arch":
        return math.sin(math.pi * (0.15 + 0.7 * x))
    if shape == "rise-fall":  # a peak two thirds of the way in
        return 0.25 + 0.75 * x / 0.65 if x <= 0.65 else 1.0 - 0.8 * (x - 0.65) / 0.35
    # "fall": starts near the top, dies away
    return 0.95 - 0.75 * x
