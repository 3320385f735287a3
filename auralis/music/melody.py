"""Constraint-based melody: note choice, rhythm density and humanised velocity.

Note categories are held to 70% chord tones, 25% other scale tones and 5% chromatic notes by error
diffusion: each note goes to the feasible category furthest behind its share, so the counts never
drift more than a note or two from the targets in any stretch of music. Within the category the
pitch is drawn with weights that favour steps, allow a few skips and rare leaps (up to a fifth),
pull towards the section's register centre, and stay inside a bounded range. After a leap (more
than 4 semitones) the next note steps back (1-2 semitones, opposite direction). A chromatic note is
only ever a passing tone: it continues a sounding diatonic note by a semitone, and the next note
(forced into the following slot) completes the whole step to the diatonic note beyond it.
"""

from __future__ import annotations

import random
from collections.abc import Collection

CHORD_TONE, SCALE_TONE, CHROMATIC = 0, 1, 2
TARGET_SHARE = (0.70, 0.25, 0.05)

LEAP = 4  # an interval larger than this many semitones is a leap
MAX_INTERVAL = 7  # no melodic interval larger than a fifth (except into a new register)
RANGE_BELOW, RANGE_ABOVE = 7, 8  # the range around the register centre
LOWEST, HIGHEST = 55, 91  # absolute bounds of the melody
VELOCITY_MIN, VELOCITY_MAX = 20, 100

#: Weight of a melodic interval by its size in semitones.
INTERVAL_WEIGHT = (0.25, 1.0, 1.0, 0.7, 0.6, 0.12, 0.05, 0.08)


def sounding_probability(intensity: float) -> float:
    """Probability that a rhythmic slot sounds: 0.5 at intensity 0 up to 0.8 at intensity 1."""
    return 0.5 + 0.3 * intensity


def slot_length_weights(intensity: float) -> tuple[tuple[float, float], ...]:
    """(slot length in beats, weight) for a bar: long slots when calm, half beats when intense."""
    half = 0.8 * max(0.0, (intensity - 0.5) / 0.5)
    double = max(0.0, (0.5 - intensity) / 0.5)
    return ((2.0, double), (1.0, 1.0 - half - double), (0.5, half))


def category(pc: int, chord_pcs: Collection[int], scale: Collection[int]) -> int:
    if pc in chord_pcs:
        return CHORD_TONE
    if pc in scale:
        return SCALE_TONE
    return CHROMATIC


class MelodyLine:
    """The melody's memory: last pitch and interval, register, category counts."""

    def __init__(self, rng: random.Random, center: int = 72) -> None:
        self.rng = rng
        self.counts = [0, 0, 0]
        self.last: int | None = None
        self.last_interval = 0
        self.forced: int | None = None  # the resolution owed by a chromatic passing tone
        self.center = center

    @property
    def lo(self) -> int:
        return max(LOWEST, self.center - RANGE_BELOW)

    @property
    def hi(self) -> int:
        return min(HIGHEST, self.center + RANGE_ABOVE)

    def set_context(self, scale: Collection[int]) -> None:
        """A new key or mode: a pending resolution that is no longer diatonic is dropped."""
        if self.forced is not None and self.forced % 12 not in scale:
            self.forced = None

    def next_pitch(self, chord_pcs: Collection[int], scale: Collection[int], legato: bool) -> int:
        """Choose the next note. `legato`: the previous note is still sounding."""
        if self.forced is not None:
            pitch, self.forced = self.forced, None
            return self._commit(pitch, chord_pcs, scale)
        last = self.last if self.last is not None else self.center
        resolving = abs(self.last_interval) > LEAP
        down = self.last_interval < 0
        lo, hi = self.lo, self.hi
        cands: tuple[list[int], list[int], list[int]] = ([], [], [])
        weights: tuple[list[float], list[float], list[float]] = ([], [], [])
        last_diatonic = last % 12 in scale
        if resolving:  # step back against the leap, even slightly outside the range
            pool = [last + 1, last + 2] if down else [last - 1, last - 2]
        else:
            pool = list(range(max(lo, last - MAX_INTERVAL), min(hi, last + MAX_INTERVAL) + 1))
        for p in pool:
            pc = p % 12
            d = p - last
            cat = category(pc, chord_pcs, scale)
            if cat == CHROMATIC:
                beyond = p + d
                if not (
                    legato and last_diatonic and abs(d) == 1 and beyond % 12 in scale
                    and lo <= beyond <= hi and self.last is not None
                ):
                    continue
            w = INTERVAL_WEIGHT[abs(d)]
            w *= 1.0 / (1.0 + ((p - self.center) / 6.0) ** 2)  # pull to the register centre
            if d and self.last_interval and (d > 0) == (self.last_interval > 0) and abs(d) <= 2:
                w *= 1.3  # stepwise lines keep going
            cands[cat].append(p)
            weights[cat].append(w)
        feasible = [c for c in (CHORD_TONE, SCALE_TONE, CHROMATIC) if cands[c]]
        if not feasible:  # far outside a new register: the nearest diatonic note in range
            options = [p for p in range(lo, hi + 1) if p % 12 in scale]
            pitch = min(options, key=lambda p: (abs(p - last), p))
            return self._commit(pitch, chord_pcs, scale)
        n = sum(self.counts) + 1
        cat = max(feasible, key=lambda c: (TARGET_SHARE[c] * n - self.counts[c], -c))
        pitch = self.rng.choices(cands[cat], weights[cat])[0]
        if cat == CHROMATIC:
            self.forced = pitch + (pitch - last)
        return self._commit(pitch, chord_pcs, scale)

    def _commit(self, pitch: int, chord_pcs: Collection[int], scale: Collection[int]) -> int:
        self.counts[category(pitch % 12, chord_pcs, scale)] += 1
        if self.last is not None:
            self.last_interval = pitch - self.last
        self.last = pitch
        return pitch

    def velocity(self, intensity: float, beat_in_bar: float) -> int:
        """Humanised velocity in 20-100: louder with intensity, accents on strong beats."""
        base = 44.0 + 30.0 * intensity
        if beat_in_bar == 0:
            base += 6.0
        elif beat_in_bar == 2:
            base += 3.0
        elif beat_in_bar != int(beat_in_bar):
            base -= 4.0
        v = base + self.rng.gauss(0.0, 7.0)
        return int(min(VELOCITY_MAX, max(VELOCITY_MIN, round(v))))
