"""Open pad voicings with smooth voice leading.

Every voicing is *open*: its span (lowest to highest note) is at least :data:`MIN_SPAN`
semitones and no two neighbouring notes below C4 (MIDI 60) are a second apart; the root and the
third (or suspension) are always present. A bottom note other than the root (the fifth least) and
a bottom interval under a fourth below G3 cost extra, so the low register stays clear.

Among the voicings that qualify, the pad takes the cheapest to reach from the one sounding:
a common tone that stops costs most (each common pitch class always keeps sounding), then the
distance every moving voice travels, then how far the voice count and the span stray from the
section's wishes. Candidates are enumerated (a chord has about ten pitches in range), so the
choice is exact and deterministic. The search is pruned without changing its answer: only
combinations whose span can qualify are generated, and a candidate is dropped as soon as a part
of its cost (every term is >= 0) exceeds the best found so far.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


def _cost(
    v: Sequence[int], prev: Sequence[int], pcs: Sequence[int], n: int, span: int,
    near: dict[int, int] | None = None, bound: float = float("inf"),
) -> float:
    """The cost of moving from `prev` to `v`. `near`: each candidate pitch's distance to the
    nearest note of `prev` (precomputed by the search). Every term is >= 0 and they are added in
    a fixed order, so once the running sum passes `bound` the candidate cannot win: the sum so
    far is returned at once (the search only compares it against `bound`)."""
    c = 2.0 * abs(len(v) - n) + 0.8 * abs((v[-1] - v[0]) - span)
    if v[0] % 12 != pcs[0]:
        c += 1.0 if v[0] % 12 == (pcs[0] + 7) % 12 else 4.0
    if v[0] < CLEAR_BELOW and v[1] - v[0] < 5:
        c += 4.0
    if not prev or c > bound:
        return c
    new = set(v)
    kept = {p % 12 for p in new & set(prev)}
    for p in prev:
        if p % 12 in pcs and p not in new:
            c += 90.0 if p % 12 not in kept else 60.0  # a common tone stopped
    if c > bound:
        return c
    for p in v:
        if p not in prev:
            c += near[p] if near is not None else min(abs(p - q) for q in prev)
    if c > bound:
        return c
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


def _spanning(pool: Sequence[int], size: int, max_span: int) -> Iterator[tuple[int, ...]]:
    """The combinations of `size` pitches of the sorted `pool` whose span is MIN_SPAN to
    `max_span` (the others can never be open voicings): the outer notes first, then the inner."""
    for i, a in enumerate(pool):
        for j in range(i + size - 1, len(pool)):
            b = pool[j]
            if b - a < MIN_SPAN:
                continue
            if b - a > max_span:
                break
            for mid in combinations(pool[i + 1 : j], size - 2):
                yield (a, *mid, b)


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
        limit = max_span + SLACK + room
        # (a pitch further than the widest span from a forced note can never join it)
        rest = [p for p in pool if p not in forced and max(forced, default=p) - limit <= p <= min(forced, default=p) + limit]
        shapes = [
            tuple(sorted(forced + extra))
            for k in range(0, 4) if 3 <= len(forced) + k <= 6
            for extra in combinations(rest, k)
        ]
    else:
        shapes = [v for size in (n, n + 1) if 3 <= size <= 6 for v in _spanning(pool, size, max_span + SLACK)]
    near = {p: min(abs(p - q) for q in prev) for p in pool} if prev else None
    for attempt in (shapes, list(_spanning(pool, n - 1, max_span + SLACK)) if n > 3 and not room else []):
        for v in attempt:
            # (the first terms of the cost alone already lose: skip the checks)
            if best is not None and 2.0 * abs(len(v) - n) + 0.8 * abs((v[-1] - v[0]) - span) > best[0]:
                continue
            if not _ok(v, pcs, max_span + SLACK + room):
                continue
            c = _cost(v, prev, pcs, n, span, near, best[0] if best is not None else float("inf"))
            if best is None or (c, v) < best:
                best = (c, v)
        if best is not None:
            break
    if best is None and room:
        return ()  # the common tones themselves cannot be voiced openly: the caller lets one go
    if best is None:  # no open voicing qualifies in this range: widen it (never reached with the
        return _voice(prev, pcs, n, low - 5, span + 5, room)  # composer's ranges, kept total)
    return best[1]
