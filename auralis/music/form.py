"""Form: what a seed is, and how each section differs from the one before.

A :class:`SeedProfile` is a seed's character, the same through all of its music: the melody's
home register, where it lies between sparse and busy (how often its phrases come, how long its
motifs are, how fast their values move and how they are shaped, how often a phrase adds a
tail: all on one axis, so they add up rather than cancel), how joined its notes are, its
rhythmic grid, its loudness, the pad's usual size, span and register, and how much of each
chord its bass holds. The traits that set what a listener hears from minute to minute are
placed on low-discrepancy sequences over the seeds (see :func:`spread`), so any few seeds in a
row are far apart on each of them; seeds therefore sound like different pieces, and differ more
than the sections of one seed do.

Each section then draws :class:`SectionTraits` around the profile so that every boundary changes
the layers (the bass holds its chords in one section and only touches them in the next; some
sections are a breath: the melody rests and the pad plays alone) and the pad's span (to the
farthest of its spans: 8 semitones or more), and most change the melody density (levels cycling
low, middle, high, middle) and the register (to the other side of home). The changes that carry
the boundaries are ones the seeds do not differ by, or whose seed share stays the same (the
bass), so the seed's own traits are not drowned by its sections."""

from __future__ import annotations

import random
from dataclasses import dataclass

#: Section density levels (factors on how often phrases come): a mild contrast, so that a few
#: minutes of a seed hold its own density (the boundaries are carried by the bass and the pad).
DENSITY_LEVELS = (0.7, 1.0, 1.4)
#: The order in which sections go through the levels (indices into DENSITY_LEVELS): low, middle,
#: high, middle, and round again, so any few minutes of a seed hold the same mix of levels.
DENSITY_CYCLE = (0, 1, 2, 1)
BREATH = 0.0  # the melody rests for the whole section
BREATH_CHANCE = 0.12
BASS_PARTS = ("root", "pedal")
PAD_SPANS = (19, 23, 27, 31)
#: The number of notes of a seed's motifs: the sparser half of the seeds, the busier half.
MOTIF_LENGTHS = (5, 6)
#: How far (semitones) a section's register centre lies from home, on the other side each time.
REGISTER_MOVE = (2, 3)


#: Each trait's low-discrepancy sequence over the seeds (fractional parts of square roots): a
#: seed's place on trait k is frac(0.5 + seed * WEYL[k]), so any few seeds in a row lie far
#: apart on every trait (seeds drawn at random would often bunch up: five of them are five
#: different pieces only if their characters differ more than their sections do). Traits 5 and 7
#: are free (their motif length and pace now follow trait 1, the seed's place from sparse to busy).
WEYL = (0.6180339887, 0.4142135624, 0.7320508076, 0.2360679775, 0.3166247904, 0.6457513111,
        0.6055512755, 0.3588989435, 0.6904157598)
_ONE = 1 << 32


def spread(seed: int, k: int) -> float:
    """Seed `seed`'s place (0..1) on trait `k` (see WEYL), exact for any integer seed."""
    return ((seed * round(WEYL[k] * _ONE) + _ONE // 2) % _ONE) / _ONE


@dataclass(frozen=True, slots=True)
class SeedProfile:
    """A seed's character: what stays the same through every section of its music."""

    home: int  # melody register centre
    density: float  # factor on phrase rate
    busy: float  # 0..1: sparse to busy (density, motif length, pace, value shaping, tails)
    legato: float  # chance that notes inside a phrase are joined
    triple: float  # chance that a motif is in thirds of a beat
    step_bias: float
    long_bias: float
    velocity: float  # offset added to melody velocities
    pad_voices: int
    pad_span: int  # index into PAD_SPANS
    pad_low: int  # the pad's usual bottom
    motif_length: int  # the number of notes of its motifs
    leap: float  # the mean size of its motifs' steps (scale degrees)
    pace: float  # the mean note value of its motifs (ticks, at intensity 0.5)
    bass_hold: tuple[float, float]  # the share of each chord its bass holds: (touching, holding)

    @staticmethod
    def draw(seed: int) -> SeedProfile:
        rng = random.Random(f"auralis.music.profile:{seed}")
        w = [spread(seed, k) for k in range(len(WEYL))]
        return SeedProfile(
            home=65 + round(18 * w[0]),
            density=0.6 + 1.0 * w[1],
            busy=w[1],
            legato=0.45 + 0.5 * w[2],
            triple=rng.uniform(0.05, 0.6),
            step_bias=0.8 + 2.4 * (1 - w[6]),
            long_bias=0.6 + 1.1 * (1 - w[1]),
            velocity=-14.0 + 28.0 * w[3],
            pad_voices=rng.choice((3, 4, 4, 5)),
            pad_span=rng.randrange(len(PAD_SPANS)),
            pad_low=39 + round(15 * w[4]),
            motif_length=MOTIF_LENGTHS[min(1, int(2 * w[1]))],
            leap=1.0 + 0.8 * w[6],
            pace=5.5 + 7.0 * (1 - w[1]),
            bass_hold=(0.2 + 0.25 * w[8], 0.6 + 0.4 * w[8]),
        )


@dataclass(frozen=True, slots=True)
class SectionTraits:
    density: float  # factor on phrase rate; BREATH: no melody
    level: int  # the section's place in DENSITY_CYCLE
    centre: int  # melody register centre
    side: int  # +1 above home, -1 below
    bass: str  # "root" or "pedal"
    bass_hold: float  # the share of each chord the bass holds
    pad_voices: int
    pad_span: int
    pad_low: int
    breath_owed: float = 0.0  # how much of a breath is owed (see next)

    @staticmethod
    def first(rng: random.Random, p: SeedProfile) -> SectionTraits:
        side = rng.choice((1, -1))
        level = rng.randrange(len(DENSITY_CYCLE))
        return SectionTraits(
            density=DENSITY_LEVELS[DENSITY_CYCLE[level]] * p.density,
            level=level,
            centre=p.home + side * rng.randint(REGISTER_MOVE[0], REGISTER_MOVE[1]),
            side=side,
            bass=rng.choice(BASS_PARTS),
            bass_hold=p.bass_hold[1],
            pad_voices=p.pad_voices,
            pad_span=PAD_SPANS[p.pad_span],
            pad_low=p.pad_low,
            breath_owed=rng.random(),
        )

    def next(self, rng: random.Random, p: SeedProfile) -> SectionTraits:
        side = -self.side
        level = (self.level + 1) % len(DENSITY_CYCLE)
        # Breaths are spread evenly (error diffusion of BREATH_CHANCE, from a phase of the
        # seed's), not drawn: a few minutes of music hold the same share of them.
        owed = self.breath_owed + BREATH_CHANCE
        if self.density != BREATH and owed >= 1.0:
            density = BREATH
            owed -= 1.0
        else:
            density = DENSITY_LEVELS[DENSITY_CYCLE[level]] * p.density
        # The bass holds its chords (more than half of each) and touches them (less than half)
        # in turn, the seed's own two shares (SeedProfile.bass_hold): at every boundary it
        # enters or leaves as a layer, and the seed keeps its own share of bass.
        bass = rng.choice(BASS_PARTS)
        hold = p.bass_hold[0] if self.bass_hold == p.bass_hold[1] else p.bass_hold[1]
        # The pad's span moves to the farthest of PAD_SPANS (8 semitones or more: open <-> wide,
        # then 19 <-> 31), so the change survives the voice leading's slack.
        span = max(PAD_SPANS, key=lambda w: abs(w - self.pad_span))
        voices = min(5, max(3, p.pad_voices + rng.choice((-1, 0, 0, 1))))
        return SectionTraits(
            density=density,
            level=level,
            centre=p.home + side * rng.randint(REGISTER_MOVE[0], REGISTER_MOVE[1]),
            side=side,
            bass=bass,
            bass_hold=hold,
            pad_voices=voices,
            pad_span=span,
            pad_low=p.pad_low,
            breath_owed=owed,
        )
