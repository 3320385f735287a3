"""The pruned voicing search gives exactly the answer of the plain enumeration it replaced."""

from __future__ import annotations

import random
from itertools import combinations

from auralis.music.theory import QUALITIES
from auralis.music.voicing import MIN_SPAN, SLACK, _cost, _ok, _voice


def plain(prev: tuple[int, ...], pcs: tuple[int, ...], n: int, low: int, span: int, room: int) -> tuple[int, ...]:
    """The search before pruning: every combination, every candidate costed in full."""
    span = max(span, MIN_SPAN)
    max_span = span + 6
    hi = low + max_span
    pool = sorted(
        {p for p in range(low - room, hi + room + 1) if p % 12 in pcs}
        | {p for p in prev if p % 12 in pcs and low - SLACK - room <= p <= hi + SLACK + room}
    )
    best = None
    if room:
        forced = tuple(p for p in prev if p % 12 in pcs)
        rest = [p for p in pool if p not in forced]
        shapes = [tuple(sorted(forced + e)) for k in range(4) if 3 <= len(forced) + k <= 6
                  for e in combinations(rest, k)]
    else:
        shapes = [v for size in (n, n + 1) if 3 <= size <= 6 for v in combinations(pool, size)]
    for attempt in (shapes, list(combinations(pool, n - 1)) if n > 3 and not room else []):
        for v in attempt:
            if not _ok(v, pcs, max_span + SLACK + room):
                continue
            c = _cost(v, prev, pcs, n, span)
            if best is None or (c, v) < best:
                best = (c, v)
        if best is not None:
            break
    if best is None and room:
        return ()
    if best is None:
        return plain(prev, pcs, n, low - 5, span + 5, room)
    return best[1]


def test_pruned_search_matches_plain_enumeration() -> None:
    rng = random.Random(7)
    prev: tuple[int, ...] = ()
    for i in range(150):
        root = rng.randrange(12)
        pcs = tuple((root + k) % 12 for k in QUALITIES[rng.choice(sorted(QUALITIES))])
        n, low, span = rng.choice((3, 4, 5)), rng.randint(39, 52), rng.choice((19, 23, 27, 31))
        room = rng.choice((0, 0, 7))
        want = plain(prev, pcs, n, low, span, room)
        assert _voice(prev, pcs, n, low, span, room) == want, (i, prev, pcs, n, low, span, room)
        prev = want or prev
