"""Pad voicings with smooth voice leading: common tones hold, the other voices move least."""

from __future__ import annotations

from collections.abc import Sequence

#: A held voice may stay up to this many semitones outside the register; a root-position chord
#: may put its root this far below it.
SLACK = 4


def _nearest(p: int, pc: int, lo: int, hi: int, used: set[int]) -> int | None:
    """The pitch of class `pc` in [lo, hi], not in `used`, closest to `p` (ties go down)."""
    up = p + (pc - p) % 12
    best: int | None = None
    for cand in (up - 12, up, up - 24, up + 12):
        if lo <= cand <= hi and cand not in used and (
            best is None or abs(cand - p) < abs(best - p) or (abs(cand - p) == abs(best - p) and cand < best)
        ):
            best = cand
    return best


def _spread_slot(pc: int, lo: int, hi: int, used: set[int]) -> int | None:
    """The pitch of class `pc` in [lo, hi] farthest from the pitches already used."""
    best, best_gap = None, -1
    p = lo + (pc - lo) % 12
    while p <= hi:
        if p not in used:
            gap = min((abs(p - u) for u in used), default=99)
            if gap > best_gap:
                best, best_gap = p, gap
        p += 12
    return best


def initial_voicing(pcs: Sequence[int], n: int, lo: int, hi: int) -> tuple[int, ...]:
    """A root-position voicing of `n` voices: the lowest root in range, the tones stacked above.

    With more voices than tones the tones are doubled an octave up (root first); with fewer, the
    least important tones (the fifth first) are left out.
    """
    floor = lo - SLACK
    root = floor + (pcs[0] - floor) % 12
    base = [root + (pc - root) % 12 for pc in pcs[: min(n, len(pcs))]]
    pitches: list[int] = []
    for p in base + [q + 12 for q in base] + [q + 24 for q in base]:
        if len(pitches) == n:
            break
        if p > hi:
            p -= 12
        if floor <= p <= hi and p not in pitches:
            pitches.append(p)
    return tuple(sorted(pitches))


def lead(prev: Sequence[int], pcs: Sequence[int], n: int, lo: int, hi: int) -> tuple[int, ...]:
    """Voice `pcs` (most important first) in about `n` voices within [lo, hi], led from `prev`.

    - Every voice of `prev` on a tone of the new chord (within SLACK of the range) holds, so each
      common tone keeps sounding; only when there are more than ``n + 1`` of them do doubled (then
      the least important) ones drop.
    - Each other voice moves to the nearest pitch of a chord tone still missing (most important
      first) or, when all are there, of any chord tone.
    - Voices are added to reach `n` (missing tones first, then doublings).
    - The root and the third (or suspension) are always present: if held voices fill every slot, a
      ``n + 1``-th voice is added for them, or else a doubled voice moves to them (its tone still
      sounds in the other voice).

    Returns a sorted tuple of distinct pitches.
    """
    if not prev:
        return initial_voicing(pcs, n, lo, hi)
    pcset = set(pcs)
    keep = [p for p in sorted(prev) if p % 12 in pcset and lo - SLACK <= p <= hi + SLACK]
    while len(keep) > n + 1:
        counts = {pc: sum(1 for p in keep if p % 12 == pc) for pc in pcset}
        victim = max(keep, key=lambda p: (counts[p % 12] > 1, pcs.index(p % 12), p))
        keep.remove(victim)
    used = set(keep)
    present = {p % 12 for p in keep}
    missing = [pc for pc in pcs[: max(n, 2)] if pc not in present]
    for m in (p for p in prev if p not in used):
        if len(used) >= n:
            break
        targets = missing or list(pcs)
        options = [(c, pc) for pc in targets if (c := _nearest(m, pc, lo, hi, used)) is not None]
        if options:
            cand, pc = min(options, key=lambda o: (abs(o[0] - m), o[0]))
            used.add(cand)
            if pc in missing:
                missing.remove(pc)
    k = 0
    while len(used) < n and k < 4 * len(pcs):
        if missing:
            pc = missing.pop(0)
        else:
            pc = pcs[k % len(pcs)]
            k += 1
        cand = _spread_slot(pc, lo, hi, used)
        if cand is not None:
            used.add(cand)
    for pc in pcs[:2]:
        if any(p % 12 == pc for p in used):
            continue
        if len(used) <= n:
            cand = _spread_slot(pc, lo, hi, used)
            if cand is not None:
                used.add(cand)
                continue
        counts = {q: sum(1 for p in used if p % 12 == q) for q in pcset}
        movable = [p for p in used if counts.get(p % 12, 0) > 1] or [
            p for p in used if p % 12 not in pcs[:2]
        ]
        options = [(c, p) for p in movable if (c := _nearest(p, pc, lo, hi, used)) is not None]
        if options:
            cand, old = min(options, key=lambda o: (abs(o[0] - o[1]), o[0]))
            used.discard(old)
            used.add(cand)
    return tuple(sorted(used))
