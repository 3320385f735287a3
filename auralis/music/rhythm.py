"""The rhythmic grid and humanised timing.

Positions and durations are whole *ticks*, six to the beat, so onsets fall exactly on the half-
and third-beat grids (3 and 2 ticks) and every sum is exact. A phrase keeps to one subdivision:
*duple* cells (multiples of half a beat) or *triple* cells (multiples of a third).

Humanised timing: each phrase lags the grid by its own amount (0-40 ms, drawn per phrase: a
player leans into or sits back on a phrase), and each onset moves by a seeded Gaussian offset
(10 ms standard deviation, clipped to +-20 ms; an onset on a beat line only ever late, so no event
falls before the beat that generates it): 0-60 ms in all, while the intervals between the onsets
of a phrase stay within 40 ms of the written rhythm, so a restated motif keeps its rhythm. A
detached note keeps its onset's offset at its end, so its written length is exact.
"""

from __future__ import annotations

import random

TICKS_PER_BEAT = 6
HALF, THIRD = 3, 2

#: Note values (ticks) and weights per subdivision.
DUPLE_VALUES = ((3, 0.9), (6, 1.0), (9, 0.7), (12, 0.7), (18, 0.45), (24, 0.3))
TRIPLE_VALUES = ((2, 0.7), (4, 0.9), (6, 1.0), (8, 0.6), (12, 0.6), (18, 0.4), (24, 0.25))

HUMANISE_SD_S = 0.010
HUMANISE_MAX_S = 0.020
HUMANISE_LAG_S = 0.040  # the most a phrase lags


def values(subdivision: str) -> tuple[tuple[int, float], ...]:
    return DUPLE_VALUES if subdivision == "duple" else TRIPLE_VALUES


def unit(subdivision: str) -> int:
    return HALF if subdivision == "duple" else THIRD


def phrase_lag(rng: random.Random) -> float:
    """How late a phrase sits behind the grid, in seconds."""
    return rng.uniform(0.0, HUMANISE_LAG_S)


def humanise(rng: random.Random, on_beat_line: bool, lag: float = 0.0) -> float:
    """A timing offset in seconds for one onset of a phrase that lags by `lag`."""
    x = min(HUMANISE_MAX_S, max(-HUMANISE_MAX_S, rng.gauss(0.0, HUMANISE_SD_S)))
    return lag + (abs(x) if on_beat_line else x)
