"""Motifs: short interval-and-rhythm cells that a section's phrases restate with variation.

A motif is 3-5 notes: the melodic steps between them, counted in *scale steps* (so a restatement
on another chord stays in the mode), and their note values in ticks (see `rhythm`). A section
draws at most :data:`MAX_MOTIFS` of them; each phrase restates one, literally (transposed to the
chord in force when it sounds) or varied:

- ``invert``: the steps mirrored;
- ``augment``: the note values doubled (or the short ones lengthened);
- ``displace``: the same cell started off the beat;
- ``ornament``: one note split into a short neighbour and its return;
- ``vary``: one step changed, the rhythm kept.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from auralis.music.rhythm import unit, values

MAX_MOTIFS = 4
LENGTHS = (3, 4, 4, 5)
#: Steps (in scale degrees) and their weights: mostly steps and thirds, a few fourths.
STEPS = ((1, 1.0), (-1, 1.0), (2, 0.45), (-2, 0.45), (0, 0.12), (3, 0.12), (-3, 0.12))

VARIATIONS = ("literal", "invert", "augment", "displace", "ornament", "vary")
VARIATION_WEIGHTS = (0.6, 0.07, 0.07, 0.14, 0.06, 0.06)


@dataclass(frozen=True, slots=True)
class Motif:
    steps: tuple[int, ...]  # len(values) - 1 scale steps
    values: tuple[int, ...]  # note values (ticks): each note's distance to the next onset
    subdivision: str  # "duple" or "triple"
    offset: int = 0  # ticks after the beat on which the cell starts
    detached: tuple[bool, ...] = ()  # notes followed by a short gap rather than joined

    def __len__(self) -> int:
        return len(self.values)


def draw_motif(
    rng: random.Random, subdivision: str, step_bias: float, long_bias: float, legato: float
) -> Motif:
    """A fresh motif. `step_bias` > 1 favours steps over skips; `long_bias` > 1 longer values;
    `legato`: the chance that a note is joined to the next."""
    n = rng.choice(LENGTHS)
    sv, sw = zip(*STEPS)
    sw = [w * (step_bias if abs(s) == 1 else 1.0) for s, w in zip(sv, sw)]
    steps = tuple(rng.choices(sv, sw, k=n - 1))
    vv, vw = zip(*values(subdivision))
    vw = [w * (long_bias ** (i / (len(vv) - 1) * 2 - 1)) for i, w in enumerate(vw)]
    vals = list(rng.choices(vv, vw, k=n))
    vals[-1] = max(vals[-1], 12)  # a cell comes to rest on its last note
    u = unit(subdivision)
    detached = tuple(v >= 2 * u and rng.random() > legato for v in vals)
    return Motif(steps, tuple(vals), subdivision, detached=detached)


def vary(rng: random.Random, m: Motif) -> tuple[Motif, str]:
    """A restatement of `m`: (the motif as it will sound, the name of the variation)."""
    kind = rng.choices(VARIATIONS, VARIATION_WEIGHTS)[0]
    u = unit(m.subdivision)
    if kind == "invert":
        return Motif(tuple(-s for s in m.steps), m.values, m.subdivision, 0, m.detached), kind
    if kind == "augment":
        return Motif(m.steps, tuple(min(2 * v, 36) for v in m.values), m.subdivision, 0, m.detached), kind
    if kind == "displace":
        off = u * rng.choice((1, 2 if u == 2 else 1))
        return Motif(m.steps, m.values, m.subdivision, off, m.detached), kind
    if kind == "ornament":
        # A short neighbour note (a step above or below) slips in just before note i.
        room = [i for i in range(1, len(m.values)) if m.values[i - 1] >= 2 * u]
        if room:
            i = rng.choice(room)
            nb = rng.choice((1, -1))
            steps = list(m.steps)
            vals = list(m.values)
            steps[i - 1 : i] = [steps[i - 1] + nb, -nb]
            vals[i - 1 : i] = [vals[i - 1] - u, u]
            det = list(m.detached) or [False] * len(m.values)
            det[i - 1 : i] = [False, False]
            return Motif(tuple(steps), tuple(vals), m.subdivision, 0, tuple(det)), kind
        kind = "literal"
    if kind == "vary" and m.steps:
        i = rng.randrange(len(m.steps))
        steps = list(m.steps)
        steps[i] += rng.choice((1, -1))
        return Motif(tuple(steps), m.values, m.subdivision, 0, m.detached), kind
    return m, "literal"
