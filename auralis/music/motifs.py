"""Motifs: short interval-and-rhythm cells that a section's phrases restate with variation.

A motif is 3-6 notes (a seed leans to its own length): the melodic steps between them, counted
in *scale steps* (so a restatement on another chord stays in the mode), and their note values in
ticks (see `rhythm`). Everything that makes a statement recognisable is drawn once, with the
motif: its rhythm (already shaped by the intensity in force: the long values of the busier seeds
halved when the music is busy, those of the sparser seeds doubled when it is calm, the same for
every motif of a seed), a long note inside the cell (most motifs hold one note for 3 beats or more),
and the tail a busy phrase adds. A leap (a fourth or more) inside a motif is always followed by a
step back, and a motif never ends on a leap. A section draws at most :data:`MAX_MOTIFS` of them,
each the one of :data:`FIT_TRIES` drawn nearest the seed's step size and pace that, placed on a
triad, holds :data:`CHORD_FIT` chord tones (see :func:`fitted_motif`);
each phrase restates one, literally (at the transposition that fits the harmony, see `melody`)
or varied:

- ``invert``: the steps mirrored;
- ``augment``: the note values doubled (or the short ones lengthened);
- ``displace``: the same cell started off the beat;
- ``ornament``: one note split into a short neighbour and its return;
- ``vary``: one step changed, the rhythm kept.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from auralis.music.rhythm import unit, values

MAX_MOTIFS = 4
#: Motif lengths around the seed's own length, and their weights.
LENGTH_SPREAD = ((0, 1.0),)
MIN_LENGTH, MAX_LENGTH = 3, 6
#: Chance that a motif holds one inner note for a long value (3 beats or more), up to
#: intensity 0.6 (less when busier, none from 0.8).
LONG_NOTE = 1.0
LONG_VALUES = (18, 24)
#: Steps (in scale degrees) and their weights: mostly steps and thirds, a few fourths.
STEPS = ((1, 1.0), (-1, 1.0), (2, 0.45), (-2, 0.45), (0, 0.12), (3, 0.12), (-3, 0.12))
MAX_STEP = 3  # the largest step of a motif (scale degrees)
LEAP_STEPS = 2  # a step of more than this many scale degrees is a leap (followed by a step back)

VARIATIONS = ("literal", "invert", "augment", "displace", "ornament", "vary")
VARIATION_WEIGHTS = (0.8, 0.02, 0.02, 0.12, 0.02, 0.02)


@dataclass(frozen=True, slots=True)
class Motif:
    steps: tuple[int, ...]  # len(values) - 1 scale steps
    values: tuple[int, ...]  # note values (ticks): each note's distance to the next onset
    subdivision: str  # "duple" or "triple"
    offset: int = 0  # ticks after the beat on which the cell starts
    detached: tuple[bool, ...] = ()  # notes followed by a short gap rather than joined
    tail: tuple[int, ...] = (1,)  # the steps of the tail a busy phrase adds after the cell

    def __len__(self) -> int:
        return len(self.values)


def draw_motif(
    rng: random.Random, subdivision: str, step_bias: float, long_bias: float, legato: float,
    length: int = 4, intensity: float = 0.5, busy: float = 0.5,
) -> Motif:
    """A fresh motif. `step_bias` > 1 favours steps over skips; `long_bias` > 1 longer values;
    `legato`: the chance that a note is joined to the next; `length`: the seed's usual number
    of notes; `intensity`: shapes the note values (see the module docstring); `busy` (0..1, the
    seed's): which seeds' long values halve when the music is busy (the busiest first) and
    double when it is calm (the sparsest first), so every motif of a seed is shaped alike."""
    spread, sw_ = zip(*LENGTH_SPREAD)
    n = min(MAX_LENGTH, max(MIN_LENGTH, length + rng.choices(spread, sw_)[0]))
    sv, sw = zip(*STEPS)
    sw = [w * (step_bias if abs(s) == 1 else 1.0) for s, w in zip(sv, sw)]
    steps: list[int] = []
    for i in range(n - 1):
        if steps and abs(steps[-1]) > LEAP_STEPS:  # after a leap, a step back
            steps.append(-1 if steps[-1] > 0 else 1)
            continue
        last = i == n - 2
        steps.append(rng.choices(sv, [0.0 if last and abs(s) > LEAP_STEPS else w for s, w in zip(sv, sw)])[0])
    vv, vw = zip(*values(subdivision))
    vw = [w * (long_bias ** (i / (len(vv) - 1) * 2 - 1)) for i, w in enumerate(vw)]
    vals = list(rng.choices(vv, vw, k=n))
    if intensity > 0.6 and 1.0 - busy < 5 * (intensity - 0.6):  # busier: the long values halve
        vals = [v // 2 if v >= 12 else v for v in vals]
    elif intensity < 0.5 and busy < 3 * (0.5 - intensity):  # calmer: they double
        vals = [min(2 * v, 36) if v >= 6 else v for v in vals]
    if rng.random() < LONG_NOTE * min(1.0, max(0.0, (0.8 - intensity) / 0.2)) and not any(v >= LONG_VALUES[0] for v in vals[:-1]):
        vals[rng.randrange(n - 1)] = rng.choice(LONG_VALUES)
    vals[-1] = max(vals[-1], 12)  # a cell comes to rest on its last note
    u = unit(subdivision)
    detached = tuple(v >= 2 * u and rng.random() > legato for v in vals)
    first = rng.choice((1, -1, 2, -2))
    tail = (first,) if abs(steps[0]) > LEAP_STEPS or rng.random() < 0.5 else (first, steps[0])
    return Motif(tuple(steps), tuple(vals), subdivision, detached=detached, tail=tail)


#: How many motifs are drawn to find the one nearest a seed's character (see fitted_motif).
FIT_TRIES = 96
#: The share of a motif's notes that should be chord tones when it is placed on a triad (the
#: melody's budget asks 70% of all notes, 74% of the diatonic ones).
CHORD_FIT = 0.75
#: A motif ends at most this many scale steps from where it began.
RETURN = 1
#: What each leap (a fourth or more) costs a motif in the fit: returning motifs would otherwise
#: lean on a leap and its step back.
LEAP_COST = 4.0
#: How closely (log ratio) a motif's mean value keeps to the seed's pace: a theme kept through
#: the piece sets its density, so it must not be left to the luck of one draw.
PACE_FIT = 0.08


def chord_fit(steps: tuple[int, ...]) -> float:
    """The largest share of the cell's notes that fall on a triad's tones (scale degrees 0, 2, 4
    above its root) over the seven placements: the chord tones it keeps when restated with the
    chord's root movement, on any chord of stacked thirds."""
    degrees = [0]
    for st in steps:
        degrees.append(degrees[-1] + st)
    return max(sum(1 for d in degrees if (d + o) % 7 in (0, 2, 4)) for o in range(7)) / len(degrees)


def fitted_motif(
    rng: random.Random, subdivision: str, step_bias: float, long_bias: float, legato: float,
    length: int, intensity: float, leap: float, pace: float, busy: float = 0.5,
    fit_weight: float = 1.0,
) -> Motif:
    """Of FIT_TRIES motifs drawn (see draw_motif), the one nearest a seed's character: mean step
    size `leap` (scale degrees) and mean note value `pace` (ticks at intensity 0.5, scaled as the
    intensity shapes the values). So every motif of a seed moves and flows alike, and seeds
    differ more than their sections do. `fit_weight`: how much the chord fit weighs (more for
    the theme, see composer.THEME_FIT)."""
    if intensity > 0.5:
        pace *= 1.0 - 0.35 * min(1.0, 3 * (intensity - 0.5))
    else:
        pace *= 1.0 + 0.7 * min(1.0, 2 * (0.5 - intensity))
    best: tuple[float, Motif] | None = None
    for _ in range(FIT_TRIES):
        m = draw_motif(rng, subdivision, step_bias, long_bias, legato, length, intensity, busy)
        size = sum(abs(x) for x in m.steps) / len(m.steps)
        flow = sum(m.values) / len(m.values)
        score = ((size - leap) / 0.25) ** 2 + (math.log(flow / pace) / PACE_FIT) ** 2
        score += fit_weight * (max(0.0, CHORD_FIT - chord_fit(m.steps)) / 0.05) ** 2
        score += (max(0, abs(sum(m.steps)) - RETURN) / 0.5) ** 2
        score += LEAP_COST * sum(1 for x in m.steps if abs(x) >= MAX_STEP)
        if best is None or score < best[0]:
            best = (score, m)
    assert best is not None
    return best[1]


def vary(rng: random.Random, m: Motif) -> tuple[Motif, str]:
    """A restatement of `m`: (the motif as it will sound, the name of the variation)."""
    kind = rng.choices(VARIATIONS, VARIATION_WEIGHTS)[0]
    u = unit(m.subdivision)
    if kind == "invert":
        return Motif(tuple(-s for s in m.steps), m.values, m.subdivision, 0, m.detached, m.tail), kind
    if kind == "augment":
        return Motif(m.steps, tuple(min(2 * v, 36) for v in m.values), m.subdivision, 0, m.detached, m.tail), kind
    if kind == "displace":
        off = u * rng.choice((1, 2 if u == 2 else 1))
        return Motif(m.steps, m.values, m.subdivision, off, m.detached, m.tail), kind
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
            return Motif(tuple(steps), tuple(vals), m.subdivision, 0, tuple(det), m.tail), kind
        kind = "literal"
    if kind == "vary" and m.steps:
        i = rng.randrange(len(m.steps))
        steps = list(m.steps)
        steps[i] += rng.choice((1, -1))
        return Motif(tuple(steps), m.values, m.subdivision, 0, m.detached, m.tail), kind
    return m, "literal"
