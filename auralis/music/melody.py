"""Constraint-based melody: the choice of each note.

The rhythm and the motif's steps come from the phrase plan (see `phrases`, `motifs`); here each
note gets its pitch when it sounds, against the chord and the accompaniment then held.

- **Target.** The motif's step (in scale steps) from the previous note gives a target pitch; the
  first note of a phrase targets the phrase shape's start in the section's register. Candidates
  are weighted by their distance to the target, then by the register pull.
- **Categories: 70% chord tones, 25% other scale tones, 5% chromatic**, held by error diffusion
  with a tolerance: the target's own category is taken unless another category is more than
  :data:`TOLERANCE` notes behind its share (then the furthest-behind feasible one is), so the
  counts never drift more than about a note from the targets in any stretch of music.
- **Consonance.** No note forms a minor second or minor ninth above a held pad or bass note;
  only a chromatic passing tone (short, on a weak position) may.
- **Contour.** Intervals are at most a fifth (except into a new register); after a leap (more
  than 4 semitones) the next note steps back (1-2 semitones, opposite direction).
- **Chromatic notes** are only ever passing tones: a chromatic note continues a sounding diatonic
  note by a semitone, and the next note (joined to it) completes the whole step beyond it.
"""

from __future__ import annotations

import random
from collections.abc import Collection

from auralis.music.consonance import clashes

CHORD_TONE, SCALE_TONE, CHROMATIC = 0, 1, 2
TARGET_SHARE = (0.70, 0.25, 0.05)
TOLERANCE = 0.0

LEAP = 4  # an interval larger than this many semitones is a leap
MAX_INTERVAL = 7  # no melodic interval larger than a fifth (except into a new register)
RANGE_BELOW, RANGE_ABOVE = 7, 8  # the range around the register centre
LOWEST, HIGHEST = 55, 91  # absolute bounds of the melody
VELOCITY_MIN, VELOCITY_MAX = 20, 100


def category(pc: int, chord_pcs: Collection[int], scale: Collection[int]) -> int:
    if pc in chord_pcs:
        return CHORD_TONE
    if pc in scale:
        return SCALE_TONE
    return CHROMATIC


def scale_step(pitch: int, steps: int, scale: Collection[int]) -> int:
    """The pitch `steps` scale degrees from `pitch` (a chromatic `pitch` counts as on the scale)."""
    p = pitch
    d = 1 if steps > 0 else -1
    for _ in range(abs(steps)):
        p += d
        while p % 12 not in scale:
            p += d
    return p


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

    def target(self, step: int | None, start_offset: int, scale: Collection[int]) -> int:
        """Where the motif points: `step` scale steps from the last note, or (a phrase's first
        note, `step` None) `start_offset` semitones from the register centre."""
        if self.last is None:
            return self.center + start_offset
        if step is None:
            goal = self.center + start_offset
            if abs(goal - self.last) > 2 * LEAP:  # a new section's register: go there
                return goal
            # towards the shape's start, but no leap from where the last phrase ended
            return self.last + max(-4, min(4, goal - self.last))
        return scale_step(self.last, step, scale)

    def next_pitch(
        self,
        target: int,
        chord_pcs: Collection[int],
        scale: Collection[int],
        held: Collection[int],
        legato: bool,
        passing_ok: bool,
        short: bool = True,
    ) -> int:
        """Choose the next note near `target`. `legato`: the previous note sounds up to this one;
        `passing_ok`: this note is short, on a weak position and joined to the next, so it may
        be a chromatic passing tone; only a `short` one may sound against a held note a semitone
        below."""
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
                    legato and passing_ok and last_diatonic and abs(d) == 1 and beyond % 12 in scale
                    and lo <= beyond <= hi and self.last is not None
                    and not clashes(beyond, held) and (short or not clashes(p, held))
                ):
                    continue
            elif clashes(p, held):
                continue
            w = 0.04 ** abs(p - target)
            w *= 1.0 / (1.0 + ((p - self.center) / 7.0) ** 2)  # pull to the register centre
            if abs(d) > LEAP:
                w *= 0.1
            cands[cat].append(p)
            weights[cat].append(w)
        feasible = [c for c in (CHORD_TONE, SCALE_TONE, CHROMATIC) if cands[c]]
        if not feasible and resolving:  # the step back, whatever it meets
            options = [p for p in pool if p % 12 in scale and not clashes(p, held)] or [
                p for p in pool if p % 12 in scale] or pool
            return self._commit(min(options, key=lambda p: (abs(p - last), p)), chord_pcs, scale)
        if not feasible:  # far outside a new register: the nearest diatonic note in range
            options = [p for p in range(lo, hi + 1) if p % 12 in scale and not clashes(p, held)]
            options = options or [p for p in range(lo, hi + 1) if p % 12 in scale]
            pitch = min(options, key=lambda p: (abs(p - last), p))
            return self._commit(pitch, chord_pcs, scale)
        n = sum(self.counts) + 1
        behind = {c: TARGET_SHARE[c] * n - self.counts[c] for c in feasible}
        most = max(feasible, key=lambda c: (behind[c], -c))
        # The candidate nearest the target decides the category, unless another is too far behind.
        best = max(
            ((w, p, c) for c in feasible if c != CHROMATIC for p, w in zip(cands[c], weights[c])),
            default=None,
        )
        if best is not None and behind[most] <= TOLERANCE and behind[best[2]] > -TOLERANCE:
            cat = best[2]
        else:
            cat = most
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
