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
of its cost (every term is >= 0) exceeds the best found so far. Above all, the voicings that keep
every common pitch in range are searched first (a few hundred, not thousands): a voicing that
stops one costs at least :data:`STOP_COST` more, so when the best of those costs less than that,
it is the answer of the whole enumeration and the rest is never generated.
"""

from __future__ import annotations

from collections.abc import Sequence
import math
from functools import lru_cache

MIN_SPAN = 19
C4 = 60
CLEAR_BELOW = 55  # below this the bottom interval is at least a fourth
#: A held voice may stay this many semitones outside the section's range.
SLACK = 4
#: The cost of a common tone that stops (more when no other voice keeps its pitch class).
STOP_COST, STOP_COST_LAST = 60.0, 90.0


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
            c += STOP_COST_LAST if p % 12 not in kept else STOP_COST  # a common tone stopped
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


def _search(
    pool: Sequence[int], forced: Sequence[int], sizes: Sequence[int], max_span: int,
    prev: Sequence[int], pcs: Sequence[int], n: int, span: int, near: dict[int, int] | None,
) -> tuple[float, tuple[int, ...]] | None:
    """(cost, voicing) of the cheapest open voicing (ties: the lowest) of `sizes` pitches of the
    sorted `pool` that holds every pitch of `forced` and spans at most `max_span`.

    A depth-first walk up the pool: a branch stops as soon as it cannot be open (a second below
    C4, too wide, a forced pitch skipped) or a lower bound of its cost (the terms known so far,
    all >= 0) exceeds the best found; so it finds exactly what costing every combination would."""
    best: list = [math.inf, None]
    prev_set = set(prev)
    must = sorted(forced)
    top = max(sizes)
    size_lb = [min((2.0 * abs(s - n) for s in sizes if s >= k), default=math.inf) for k in range(top + 1)]
    # Every voicing pays at least this: each held pitch outside the chord moves to its nearest
    # pitch of the pool, each common pitch out of the pool stops.
    base = sum(
        min(abs(p - q) for p in pool) + (0.0 if q % 12 not in pcs else STOP_COST)
        for q in prev if q not in pool
    ) if pool else 0.0
    chosen: list[int] = []

    def walk(start: int, fi: int, moves: float) -> None:
        k = len(chosen)
        if k in sizes and fi == len(must) and chosen[-1] - chosen[0] >= MIN_SPAN:
            present = {p % 12 for p in chosen}
            if pcs[0] in present and pcs[1] in present:
                v = tuple(chosen)
                c = _cost(v, prev, pcs, n, span, near, best[0])
                if best[1] is None or (c, v) < (best[0], best[1]):
                    best[0], best[1] = c, v
        if k == top:
            return
        nf = must[fi] if fi < len(must) else None
        steps = []
        for j in range(start, len(pool)):
            p = pool[j]
            if nf is not None and p > nf:
                break  # a forced pitch may not be skipped
            if k:
                if p - chosen[0] > max_span:
                    break
                if chosen[-1] < C4 and p - chosen[-1] <= 2:
                    continue
            elif must and must[-1] - p > max_span:
                continue
            steps.append((near[p] if near is not None and prev and p not in prev_set else 0, j))
        steps.sort()  # the cheapest moves first: good voicings early, so the bound prunes more
        for add, j in steps:
            p = pool[j]
            lb = base + size_lb[k + 1] + moves + add
            first = chosen[0] if k else p
            if first % 12 != pcs[0]:
                lb += 1.0 if first % 12 == (pcs[0] + 7) % 12 else 4.0
            if k == 1 and first < CLEAR_BELOW and p - first < 5:
                lb += 4.0
            elif k > 1 and first < CLEAR_BELOW and chosen[1] - first < 5:
                lb += 4.0
            lb += 0.8 * max(0, (p - first) - span)
            if lb > best[0]:
                continue
            chosen.append(p)
            walk(j + 1, fi + (p == nf), moves + add)
            chosen.pop()

    walk(0, 0, 0.0)
    return None if best[1] is None else (best[0], best[1])


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
    near = {p: min(abs(p - q) for q in prev) for p in pool} if prev else None
    best: tuple[float, tuple[int, ...]] | None
    if room:
        # Every common tone holds; only the voices added to them (up to three) are searched.
        forced = tuple(p for p in prev if p % 12 in pcs)
        full = sorted(set(pool) | set(forced))
        near = {p: min(abs(p - q) for q in prev) for p in full}
        sizes = [len(forced) + k for k in range(4) if 3 <= len(forced) + k <= 6]
        best = _search(full, forced, sizes, max_span + SLACK + room, prev, pcs, n, span, near) if sizes else None
    else:
        sizes = [size for size in (n, n + 1) if 3 <= size <= 6]
        kept = tuple(p for p in prev if p % 12 in pcs and p in pool)
        if kept:
            # The voicings that keep every common pitch in range first; any other one stops a
            # common tone (and pays for every one out of range as these do).
            outside = sum(1 for p in prev if p % 12 in pcs and p not in pool)
            found = _search(pool, kept, sizes, max_span + SLACK, prev, pcs, n, span, near)
            if found is not None and found[0] < STOP_COST * (1 + outside):
                return found[1]
        best = _search(pool, (), sizes, max_span + SLACK, prev, pcs, n, span, near)
        if best is None and n > 3:
            best = _search(pool, (), [n - 1], max_span + SLACK, prev, pcs, n, span, near)
    if best is None and room:
        return ()  # the common tones themselves cannot be voiced openly: the caller lets one go
    if best is None:  # no open voicing qualifies in this range: widen it (never reached with the
        return _voice(prev, pcs, n, low - 5, span + 5, room)  # composer's ranges, kept total)
    return best[1]
