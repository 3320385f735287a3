"""Open pad voicings with smooth voice leading.

Every voicing is *open*: its span (lowest to highest note) is at least :data:`MIN_SPAN`
semitones and no two neighbouring notes below C4 (MIDI 60) are a second apart; the root and the
third (or suspension) are always present. A bottom note other than the root (the fifth least) and
a bottom interval under a fourth below G3 cost extra, so the low register stays clear.

Among the voicings that qualify, the pad takes the cheapest to reach from the one sounding:
a common tone that stops costs most (each common pitch class always keeps sounding), then the
distance every moving voice travels, then how far the voice count and the span stray from the
section's wishes. Candidates are enumerated (a chord has about ten pitches in range), so the
choice is exact and deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import combinations

MIN_SPAN = 19
C4 = 60
CLEAR_BELOW = 55  # below this the bottom interval is at least a fourth
#: A held voice may stay this many semitones outside the section's range.
SLACK = 4


def _ok(v: Sequence[int], pcs: Sequence[int], max_span: int) -> bool:
    span = v[-1] - v[0]
    if span < MIN_SPAN or span > max_span:
        return False
    present = {p % 12 for p in v}
    if pcs[0] not in present or pcs[1] not in present:
        return False
    return all(b - a > 2 for a, b in zip(v, v[1:]) if a < C4)


def _cost(v: Sequence[int], prev: Sequence[int], pcs: Sequence[int], n: int, span: int) -> float:
    c = 2.0 * abs(len(v) - n) + 0.8 * abs((v[-1] - v[0]) - span)
    if v[0] % 12 != pcs[0]:
        c += 1.0 if v[0] % 12 == (pcs[0] + 7) % 12 else 4.0
    if v[0] < CLEAR_BELOW and v[1] - v[0] < 5:
        c += 4.0
    if not prev:
        return c
    new = set(v)
    kept = {p % 12 for p in new & set(prev)}
    for p in prev:
        if p % 12 in pcs and p not in new:
            c += 90.0 if p % 12 not in kept else 60.0  # a common tone stopped
    for p in v:
        if p not in prev:
            c += min(abs(p - q) for q in prev)
    for q in prev:
        if q not in new:
            c += min(abs(p - q) for p in v)
    return c


def voice(
    prev: Sequence[int], pcs: Sequence[int], n: int, low: int, span: int
) -> tuple[int, ...]:
    """Voice the chord `pcs` (most important first) in about `n` voices from `low` upwards,
    aiming at a span of `span` semitones (at least MIN_SPAN), led from `prev`."""
    prev, pcs = tuple(prev), tuple(pcs)
    v = _voice(prev, pcs, n, low, span, 0)
    if any(p % 12 in pcs and p not in v for p in prev):
        # A common tone would stop: look again with room around the range.
        v = _voice(prev, pcs, n, low, span, 7) or v
    return v


@lru_cache(maxsize=4096)  # progressions cycle, so the same voicing questions recur
def _voice(
    prev: tuple[int, ...], pcs: tuple[int, ...], n: int, low: int, span: int, room: int
) -> tuple[int, ...]:
    span = max(span, MIN_SPAN)
    max_span = span + 6
    hi = low + max_span
    pool = sorted(
        {p for p in range(low - room, hi + room + 1) if p % 12 in pcs}
        | {p for p in prev if p % 12 in pcs and low - SLACK - room <= p <= hi + SLACK + room}
    )
    best: tuple[float, tuple[int, ...]] | None = None
    if room:
        # Every common tone holds; only the voices added to them are searched.
        forced = tuple(p for p in prev if p % 12 in pcs)
        rest = [p for p in pool if p not in forced]
        shapes = [
            tuple(sorted(forced + extra))
            for k in range(0, 4) if 3 <= len(forced) + k <= 6
            for extra in combinations(rest, k)
        ]
    else:
        shapes = [v for size in (n, n + 1) if 3 <= size <= 6 for v in combinations(pool, size)]
    for attempt in (shapes, [v for v in combinations(pool, n - 1)] if n > 3 and not room else []):
        for v in attempt:
            if not _ok(v, pcs, max_span + SLACK + room):
                continue
            c = _cost(v, prev, pcs, n, span)
            if best is None or (c, v) < best:
                best = (c, v)
        if best is not None:
            break
    if best is None and room:
        return ()  # the common tones themselves cannot be voiced openly: the caller lets one go
    if best is None:  # no open voicing qualifies in this range: widen it (never reached with the
        return _voice(prev, pcs, n, low - 5, span + 5, room)  # composer's ranges, kept total)
    return best[1]
