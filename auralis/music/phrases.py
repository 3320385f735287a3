"""Phrases and breath: the melody as short shaped phrases, each followed by a rest.

A phrase restates one of the section's motifs (see `motifs`): 2-8 notes, mostly 3-7, with a
shape (``rise-fall``, ``arch`` or ``fall``) that sets where it starts in the register and how its
loudness moves (see `dynamics.shape_curve`). Inside a phrase notes are joined (legato) or
detached by a short gap. After the phrase comes a rest drawn from a long-tailed (log-normal)
distribution: at least 2 beats and 3.2 seconds, usually a few seconds, now and then 10-20
seconds when calm. Intensity scales how often phrases come (shorter rests) and how long they
are (more notes, shorter values); the section's density factor scales the rests too.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from auralis.music.motifs import LEAP_STEPS, Motif, vary
from auralis.music.rhythm import unit

SHAPES = ("rise-fall", "arch", "fall")
SHAPE_WEIGHTS = (0.4, 0.35, 0.25)
#: Where each shape starts, in semitones from the register centre.
SHAPE_START = {"rise-fall": -3, "arch": -1, "fall": 4}
MIN_REST_S = 3.2
MIN_REST_BEATS = 2.5
MAX_REST_S = 20.0
MIN_NOTES, MAX_NOTES = 2, 8
#: How often a calm phrase (intensity 0) is a sigh on two notes (scaled by (1 - intensity)^2),
#: at most SIGH_CAP of them: a sigh holds no 4-gram of its own, and sleep's phrases were a
#: third sighs (its recurrence then 14-19% in several seeds).
SIGH = 0.55
SIGH_CAP = 0.27


@dataclass(frozen=True, slots=True)
class PlannedNote:
    on: int  # tick of the onset
    off: int  # tick of the end (== the next onset when legato)
    step: int | None  # scale steps from the previous note of the phrase (None: the first)
    index: int
    count: int  # notes in the phrase


@dataclass(frozen=True, slots=True)
class Phrase:
    shape: str
    notes: tuple[PlannedNote, ...]
    variation: str
    ending: str = "plain"  # "tail" (the motif's tail added), "sigh" (two notes) or "plain"
    unit: int = 3  # the grid unit of its subdivision (ticks): a passing tone's length
    cell: Motif | None = None  # the motif as this phrase states it (varied or not)

    @property
    def end(self) -> int:
        return self.notes[-1].off


class Endings:
    """How a seed's phrases end, spread evenly rather than drawn one by one: each phrase adds
    its chance of a tail and of a sigh to what is owed, and takes the ending once a whole one is
    owed (error diffusion). So every few minutes of a seed hold the same mix of phrase lengths,
    and seeds of long phrases and of short ones stay apart (see `form`)."""

    def __init__(self, reach: float = 0.5) -> None:
        self.reach = reach  # 0..1, the seed's: how readily its phrases add a tail (0.7x to 1.3x)
        self._tail = self._sigh = 0.5

    def next(self, intensity: float) -> str:
        tail = min(1.0, (0.05 + 0.8 * intensity) * (0.7 + 0.6 * self.reach))
        self._tail += tail  # busier music: often a tail that answers the cell's last note
        self._sigh += (1.0 - tail) * min(SIGH_CAP, SIGH * (1 - intensity) ** 2)  # calm music: now and then two notes
        if self._tail >= 1.0:
            self._tail -= 1.0
            return "tail"
        if self._sigh >= 1.0:
            self._sigh -= 1.0
            return "sigh"
        return "plain"


def plan_phrase(
    rng: random.Random, motif: Motif, start: int, intensity: float, endings: Endings | None = None
) -> Phrase:
    """The phrase restating `motif` from the first grid position at or after tick `start`.

    The motif's rhythm is kept as drawn (its intensity shaping is its own, see `motifs`), so a
    restatement is recognisable; the phrase only decides (with `endings`, the seed's) whether to
    add the motif's tail (busy music) or to sigh on its first two notes (calm music)."""
    m, variation = vary(rng, motif)
    ending = (endings if endings is not None else Endings()).next(intensity)
    shape = rng.choices(SHAPES, SHAPE_WEIGHTS)[0]
    return build_phrase(m, motif, ending, start, shape, variation)


def build_phrase(
    m: Motif, motif: Motif, ending: str, start: int, shape: str, variation: str, pickup: int = 0
) -> Phrase:
    """The phrase stating `m` (a statement of `motif`, whose tail and last value it uses) from the
    first grid position at or after tick `start`, with its `ending` (a tail that would make it
    longer than MAX_NOTES - 1, or a sigh on a motif of 3 notes, is left out). `pickup` (+1 or
    -1): a short note before the cell, a scale step below (+1) or above (-1) its first note, so
    the line may leap into the phrase and step back into the cell (the contour's rule), the
    cell itself intact."""
    steps = list(m.steps)
    vals = list(m.values)
    det = list(m.detached) or [False] * len(vals)
    tail = list(motif.tail)
    if ending == "tail" and len(vals) + len(tail) <= MAX_NOTES - 2:
        steps += tail
        vals[-1] = max(vals[-1], 18)  # the cell still comes to rest before its tail answers it
        vals += [6] * (len(tail) - 1) + [max(12, motif.values[-1])]
        det += [False] * len(tail)
    elif ending == "sigh" and len(vals) > 3:
        # the cell's first two notes; three where its first step is a leap (the contour wants
        # the step back after it, and a phrase never ends on a leap)
        k = 2 if abs(steps[0]) > LEAP_STEPS else 1
        steps, vals, det = steps[:k], vals[:k] + [max(vals[k], 12)], det[: k + 1]
    else:
        ending = "plain"
    u = unit(m.subdivision)
    if pickup:
        steps, vals, det = [pickup] + steps, [2 * u] + vals, [False] + det
    on = -(-start // u) * u + m.offset
    notes = []
    n = len(vals)
    for i, v in enumerate(vals):
        dur = v - u if det[i] and i < n - 1 else v
        notes.append(PlannedNote(on, on + dur, None if i == 0 else steps[i - 1], i, n))
        on += v
    return Phrase(shape, tuple(notes), variation, ending, u, m)


def with_passing_tone(phrase: Phrase, i: int, length: int) -> Phrase:
    """`phrase` with a short note of `length` ticks slipped in at the end of note `i` (joined to
    note i + 1): the slot of a chromatic passing tone between them."""
    notes = list(phrase.notes)
    a, b = notes[i], notes[i + 1]
    split = b.on - length
    notes[i : i + 1] = [
        PlannedNote(a.on, split, a.step, a.index, a.count),
        PlannedNote(split, b.on, 0, a.index, a.count),
    ]
    n = len(notes)
    notes = [PlannedNote(x.on, x.off, x.step, k, n) for k, x in enumerate(notes)]
    return Phrase(phrase.shape, tuple(notes), phrase.variation, phrase.ending, phrase.unit, phrase.cell)


def rest_floor(intensity: float, density: float, spb: float) -> float:
    """The shortest breath after a phrase, in seconds (see rest_seconds)."""
    floor = max(MIN_REST_S, MIN_REST_BEATS * spb)
    if intensity > 0.6:  # busy music may breathe more briefly
        floor *= 1.0 - 1.5 * (intensity - 0.6)
    if density < 1.0:  # a sparse section: longer breaths throughout
        floor /= max(density, 0.3)
    return floor


#: The distances (beats) from a phrase's last onset to the next phrase's first that a breath
#: is drawn to: a few values, spaced by about half an octave in log time, so the gap across a
#: rest recurs (a listener hears answers come back at the same distance) while the rests keep
#: their long tail.
ENTRY_BEATS = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48)
#: The rest drawn is shortened by this factor before it is drawn to a gap: a gap is taken in
#: log time, so rounding lengthens the rests a little on average, and calm music would lose
#: phrases (and long rests) a minute.
GAP_SCALE = 0.92


def entry_ticks(last: int, rest: float, floor: float, tpb: int) -> int:
    """Ticks from a phrase's last onset to the next phrase's first: the value of ENTRY_BEATS
    nearest (in log time) to the `last` note's length (ticks) plus the `rest` drawn (ticks),
    the next larger one where the rest would fall under `floor` (ticks)."""
    want = max(1.0, last + GAP_SCALE * rest)
    opts = [b * tpb for b in ENTRY_BEATS]
    k = min(range(len(opts)), key=lambda i: abs(math.log(opts[i] / want)))
    while k + 1 < len(opts) and opts[k] - last < floor:
        k += 1
    return max(opts[k], last + math.ceil(floor))


def rest_seconds(rng: random.Random, intensity: float, density: float, spb: float) -> float:
    """A breath after a phrase (see the module docstring). `density` > 1: a busier section."""
    floor = rest_floor(intensity, density, spb)
    median = (0.6 + 14.0 * (1.0 - intensity) ** 2) / max(density, 0.3)
    extra = median * math.exp(rng.gauss(0.0, 0.75))
    cap = MAX_REST_S - 8.0 * intensity
    return min(cap, floor + extra)


def truncated(phrase: Phrase, tick: int) -> Phrase | None:
    """`phrase` without the notes that would start at or after `tick` (None if fewer than
    MIN_NOTES would be left); the last note left ends by `tick`."""
    notes = [n for n in phrase.notes if n.on < tick]
    if len(notes) < MIN_NOTES:
        return None
    n = len(notes)
    out = [PlannedNote(x.on, x.off, x.step, k, n) for k, x in enumerate(notes)]
    last = out[-1]
    out[-1] = PlannedNote(last.on, min(last.off, tick), last.step, last.index, n)
    return Phrase(phrase.shape, tuple(out), phrase.variation, phrase.ending, phrase.unit, phrase.cell)
