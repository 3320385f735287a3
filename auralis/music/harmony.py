"""The chord progressions: a second-order Markov chain over the diatonic chords of a mode.

The first-order table for mode m is ``T[i][j] = FAVOUR[m][j] * MOTION[(j - i) mod 7]``: each mode
favours its characteristic chords (dorian IV, lydian II, phrygian bII, mixolydian bVII), and root
motion prefers steps and thirds (modal, drifting) over fourths and fifths (functional). A chord
never follows itself, and the chord on the fifth degree never moves to the tonic (no V-I, and no
v-i either: nothing cadential). The second order damps the chord from two steps back, so the chain
drifts on rather than rocking between two chords.

A section plays one progression *cycle*: a chain walk of 3-6 chords that starts on the tonic and
whose last chord may move back to its first, repeated round while the section lasts.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from auralis.music.theory import Chord, chord_colors, scale_pcs

TONIC, DOMINANT = 0, 4  # degrees

#: Preference for root motion by (to - from) mod 7 scale degrees.
MOTION: dict[int, float] = {1: 1.0, 6: 1.0, 3: 0.9, 5: 0.9, 2: 0.7, 4: 0.55}

#: Preference for arriving on each degree (0 = tonic), per mode.
FAVOUR: dict[str, tuple[float, ...]] = {
    "aeolian": (1.0, 0.1, 0.7, 0.9, 0.35, 1.0, 0.9),
    "dorian": (1.0, 0.7, 0.5, 1.0, 0.4, 0.15, 0.8),
    "lydian": (1.0, 1.0, 0.4, 0.15, 0.6, 0.6, 0.7),
    "phrygian": (1.0, 1.0, 0.6, 0.7, 0.1, 0.6, 0.8),
    "ionian": (1.0, 0.6, 0.4, 1.0, 0.4, 0.9, 0.05),
    "mixolydian": (1.0, 0.5, 0.15, 0.9, 0.6, 0.5, 1.0),
}

#: Weight of returning to the chord of two steps back (second order).
BACKTRACK = 0.3

#: Cycle lengths (chords) and their weights.
CYCLE_LENGTHS = (3, 4, 5, 6)
CYCLE_WEIGHTS = (0.3, 0.35, 0.2, 0.15)


def transition_table(mode: str) -> tuple[tuple[float, ...], ...]:
    """First-order weights T[from][to] over the seven degrees of `mode`."""
    fav = FAVOUR[mode]
    rows = []
    for i in range(7):
        row = []
        for j in range(7):
            w = 0.0 if i == j or (i == DOMINANT and j == TONIC) else fav[j] * MOTION[(j - i) % 7]
            row.append(w)
        rows.append(tuple(row))
    return tuple(rows)


TABLES: dict[str, tuple[tuple[float, ...], ...]] = {m: transition_table(m) for m in FAVOUR}


def is_dominant_to_tonic(prev_root: int, next_root: int, tonic: int) -> bool:
    """True when a chord rooted a perfect fifth above `tonic` is followed by one rooted on it.

    This is the V-I (and v-i) motion the harmony never makes, whatever the chord qualities.
    """
    return prev_root % 12 == (tonic + 7) % 12 and next_root % 12 == tonic % 12


def may_follow(prev_root: int | None, next_root: int, tonics: Sequence[int]) -> bool:
    """Whether a chord on `next_root` may follow one on `prev_root` (any of `tonics` in force)."""
    if prev_root is None:
        return True
    if prev_root == next_root:
        return False
    return not any(is_dominant_to_tonic(prev_root, next_root, t) for t in tonics)


def color(rng: random.Random, key: int, mode: str, degree: int) -> Chord:
    """A chord on `degree`, its quality drawn from the mode's colours."""
    options = chord_colors(key, mode, degree)
    return rng.choices(options, [w for _, w in options])[0][0]


def new_cycle(
    rng: random.Random, key: int, mode: str, prev_root: int | None, prev_tonic: int | None
) -> list[Chord]:
    """A progression cycle in `mode` on `key`, able to follow a chord on `prev_root`.

    It starts on the tonic unless that would be a V-I from the previous chord (under the old or
    the new tonic); then it starts on another chord of the mode.
    """
    table = TABLES[mode]
    roots = scale_pcs(key, mode)
    tonics = [key % 12] + ([prev_tonic % 12] if prev_tonic is not None else [])
    if may_follow(prev_root, roots[TONIC], tonics):
        start = TONIC
    else:
        weights = [FAVOUR[mode][d] if may_follow(prev_root, roots[d], tonics) else 0.0 for d in range(7)]
        start = rng.choices(range(7), weights)[0]
    length = rng.choices(CYCLE_LENGTHS, CYCLE_WEIGHTS)[0]
    for _ in range(20):
        degrees = [start]
        prev2: int | None = None
        ok = True
        for n in range(1, length):
            prev1 = degrees[-1]
            weights = [
                w * (BACKTRACK if j == prev2 else 1.0) for j, w in enumerate(table[prev1])
            ]
            if n == length - 1:  # the cycle must be able to wrap round to its start
                weights = [w if table[j][start] > 0 else 0.0 for j, w in enumerate(weights)]
            if not any(weights):
                ok = False
                break
            degrees.append(rng.choices(range(7), weights)[0])
            prev2 = prev1
        if ok:
            return [color(rng, key, mode, d) for d in degrees]
    # Unreachable with the tables above (every degree has several successors); kept total.
    second = next(d for d in range(7) if table[start][d] > 0 and table[d][start] > 0)
    return [color(rng, key, mode, start), color(rng, key, mode, second)]
