"""Form: what a seed is, and how each section differs from the one before.

A :class:`SeedProfile` is drawn once per seed, from its own generator: the melody's home
register, how dense and how joined it is, its rhythmic grid and step/rhythm leanings, its
loudness, and the pad's usual size and span. Seeds therefore sound like different pieces.

Each section then draws :class:`SectionTraits` around the profile so that a boundary changes at
least two of: melody density (levels a factor 2.5 apart, never the same twice running), register
(to the other side of home, 8-12 semitones away), the layers (the bass enters or leaves; some
sections are a breath: the melody rests and the pad plays alone), and the pad's span (by 8 semitones or more).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

#: Section density levels (factors on how often phrases come).
DENSITY_LEVELS = (0.4, 1.0, 2.5)
BREATH = 0.0  # the melody rests for the whole section
BREATH_CHANCE = 0.12
BASS_PARTS = ("root", "pedal", "off")
PAD_SPANS = (19, 23, 27, 31)
SPAN_MOVE = 8  # semitones the pad's span moves at a boundary
BASS_CHANGE = 1.0  # chance that the bass enters or leaves at a boundary


@dataclass(frozen=True, slots=True)
class SeedProfile:
    home: int  # melody register centre
    density: float  # factor on phrase rate
    legato: float  # chance that notes inside a phrase are joined
    triple: float  # chance that a motif is in thirds of a beat
    step_bias: float
    long_bias: float
    velocity: float  # offset added to melody velocities
    pad_voices: int
    pad_span: int  # index into PAD_SPANS
    pad_low: int  # the pad's usual bottom
    motif_length: int  # the usual number of notes of a motif

    @staticmethod
    def draw(seed: int) -> SeedProfile:
        rng = random.Random(f"auralis.music.profile:{seed}")
        return SeedProfile(
            home=rng.randint(68, 80),
            density=rng.uniform(0.7, 1.4),
            legato=rng.uniform(0.45, 0.95),
            triple=rng.uniform(0.05, 0.6),
            step_bias=rng.uniform(0.6, 2.5),
            long_bias=rng.uniform(0.6, 1.7),
            velocity=rng.uniform(-8.0, 8.0),
            pad_voices=rng.choice((3, 4, 4, 5)),
            pad_span=rng.randrange(len(PAD_SPANS)),
            pad_low=rng.randint(41, 50),
            motif_length=rng.choice((3, 4, 4, 5)),
        )


@dataclass(frozen=True, slots=True)
class SectionTraits:
    density: float  # factor on phrase rate; BREATH: no melody
    centre: int  # melody register centre
    side: int  # +1 above home, -1 below
    bass: str
    pad_voices: int
    pad_span: int
    pad_low: int

    @staticmethod
    def first(rng: random.Random, p: SeedProfile) -> SectionTraits:
        side = rng.choice((1, -1))
        return SectionTraits(
            density=DENSITY_LEVELS[1] * p.density,
            centre=p.home + side * rng.randint(3, 4),
            side=side,
            bass=rng.choice(BASS_PARTS[:2]),
            pad_voices=p.pad_voices,
            pad_span=PAD_SPANS[p.pad_span],
            pad_low=p.pad_low,
        )

    def next(self, rng: random.Random, p: SeedProfile) -> SectionTraits:
        side = -self.side
        if self.density != BREATH and rng.random() < BREATH_CHANCE:
            density = BREATH
        else:
            levels = [lv * p.density for lv in DENSITY_LEVELS]
            density = rng.choice([lv for lv in levels if abs(lv - self.density) > 1e-9])
        bass = self.bass
        if rng.random() < BASS_CHANGE:  # the bass enters or leaves
            bass = rng.choice(BASS_PARTS[:2]) if self.bass == "off" else "off"
        elif self.bass != "off":
            bass = rng.choice(BASS_PARTS[:2])
        # The pad's span always moves by 8 semitones or more (open <-> wide), so the change
        # survives the voice leading's slack.
        span_i = rng.choice([i for i, w in enumerate(PAD_SPANS) if abs(w - self.pad_span) >= SPAN_MOVE])
        voices = min(5, max(3, p.pad_voices + rng.choice((-1, 0, 0, 1))))
        return SectionTraits(
            density=density,
            centre=p.home + side * rng.randint(4, 6),
            side=side,
            bass=bass,
            pad_voices=voices,
            pad_span=PAD_SPANS[span_i],
            pad_low=p.pad_low + rng.choice((-2, 0, 0, 2)),
        )
