"""Musical measures of a composed event stream (the figures of docs/music.md).

Each measure reads only events and markers, the way a listener-facing layer sees them; the
benchmark (bench/bench_music.py) prints them per preset and the tests hold them to targets.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from auralis.music.events import BASS_CHANNEL, MELODY_CHANNEL, PAD_CHANNEL, Event
from auralis.music.theory import QUALITIES, pc_from_name, scale_degree, scale_pcs

PHRASE_REST_BEATS, PHRASE_REST_S = 2.0, 3.0
LONG_REST_S = 5.0
GRAM, RECUR_WINDOW = 4, 32
SHORT_BEATS = 0.5  # a clash this short, on a weak position, is a passing or neighbour tone
SPLIT = (("chord", 70.0), ("scale", 25.0), ("chromatic", 5.0))  # the melody's 70/25/5 rule
SPLIT_WINDOW_S, SPLIT_WINDOW_NOTES = 600.0, 100


@dataclass(frozen=True, slots=True)
class Note:
    start: float
    end: float
    pitch: int
    velocity: int


def notes(events: Sequence[Event], channel: int = MELODY_CHANNEL) -> list[Note]:
    open_: dict[int, Event] = {}
    out: list[Note] = []
    for e in events:
        if e.channel != channel:
            continue
        if e.kind == "note_on":
            open_[e.pitch] = e
        elif e.kind == "note_off" and e.pitch in open_:
            on = open_.pop(e.pitch)
            out.append(Note(on.time, e.time, e.pitch, on.velocity))
    return sorted(out, key=lambda n: n.start)


def duration(events: Sequence[Event]) -> float:
    return max(e.time for e in events)


def silent_share(mel: Sequence[Note], total: float) -> float:
    """Share of the time with no melody note sounding."""
    sounding, reach = 0.0, 0.0
    for n in mel:
        s = max(n.start, reach)
        if n.end > s:
            sounding += n.end - s
        reach = max(reach, n.end)
    return 1.0 - sounding / total


def phrases(mel: Sequence[Note], spb: float) -> list[list[Note]]:
    """Notes grouped by rests of at least 2 beats and 3 seconds."""
    if not mel:
        return []
    out = [[mel[0]]]
    for a, b in zip(mel, mel[1:]):
        if b.start - a.end >= max(PHRASE_REST_BEATS * spb, PHRASE_REST_S):
            out.append([b])
        else:
            out[-1].append(b)
    return out


def share_in_short_phrases(mel: Sequence[Note], spb: float) -> float:
    """Share of notes in phrases of 3-7 notes."""
    return sum(len(p) for p in phrases(mel, spb) if 3 <= len(p) <= 7) / max(1, len(mel))


def long_rests_per_minute(mel: Sequence[Note], total: float) -> float:
    gaps = [b.start - a.end for a, b in zip(mel, mel[1:])]
    return sum(1 for g in gaps if g >= LONG_REST_S) / (total / 60.0)


def quarter_beats(seconds: float, spb: float) -> float:
    return round(seconds / spb * 4) / 4


def scale_degrees(events: Sequence[Event], mel: Sequence[Note]) -> list[float]:
    """Each melody note's position in scale steps of the key and mode in force when it starts
    (from the ``context`` markers); a chromatic note sits half-way between its neighbours."""
    contexts = [
        (e.time, frozenset(scale_pcs(pc_from_name(e.text.split()[1]), e.text.split()[2])))
        for e in events if e.kind == "marker" and e.text.startswith("context ")
    ]
    out: list[float] = []
    j = 0
    scale = contexts[0][1] if contexts else frozenset(range(12))
    for n in mel:
        while j < len(contexts) and contexts[j][0] <= n.start:
            scale = contexts[j][1]
            j += 1
        out.append(scale_degree(n.pitch, scale))
    return out


def gram_keys(
    mel: Sequence[Note], spb: float, degrees: Sequence[float] | None = None
) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
    """Each 4-gram of the melody as (its 3 intervals, its 3 inter-onset intervals on the
    quarter-beat grid). Intervals in scale steps when `degrees` (see :func:`scale_degrees`) is
    given, otherwise in semitones."""
    pos = list(degrees) if degrees is not None else [float(n.pitch) for n in mel]
    return [
        (
            tuple(pos[i + k + 1] - pos[i + k] for k in range(GRAM - 1)),
            tuple(quarter_beats(mel[i + k + 1].start - mel[i + k].start, spb) for k in range(GRAM - 1)),
        )
        for i in range(len(mel) - GRAM + 1)
    ]


def _recurs(keys: Sequence[object]) -> list[bool]:
    """For each key, whether it recurs within the next RECUR_WINDOW keys."""
    return [g in keys[i + 1 : i + 1 + RECUR_WINDOW] for i, g in enumerate(keys)]


def recurrence(mel: Sequence[Note], spb: float, degrees: Sequence[float] | None = None) -> float:
    """Share of interval+rhythm 4-grams (3 intervals, 3 inter-onset intervals on the
    quarter-beat grid) that recur within the next 32 notes. Intervals are counted in scale steps
    when `degrees` (see :func:`scale_degrees`) is given, so a motif restated on another chord of
    the mode counts as the same cell; otherwise in semitones."""
    keys = [iv + rh for iv, rh in gram_keys(mel, spb, degrees)]
    return sum(_recurs(keys)) / max(1, len(keys))


@dataclass(frozen=True, slots=True)
class RecurrenceParts:
    """Where 4-gram recurrence is lost (see :func:`recurrence_parts`)."""

    rhythm: float  # recurrence of the 3 inter-onset intervals alone
    intervals: float  # recurrence of the 3 intervals alone
    inside: float  # share of 4-grams whose 4 notes lie in one phrase
    inside_recur: float  # recurrence (intervals and rhythm) of those


def recurrence_parts(mel: Sequence[Note], spb: float, degrees: Sequence[float] | None = None) -> RecurrenceParts:
    """The 4-gram recurrence taken apart: rhythm alone, intervals alone, and the 4-grams inside
    one phrase (a 4-gram across a rest holds the rest's length, which a restatement does not
    repeat: a phrase of n notes holds n - 3 inside ones)."""
    grams = gram_keys(mel, spb, degrees)
    if not grams:
        return RecurrenceParts(0.0, 0.0, 0.0, 0.0)
    phrase_of: list[int] = []
    for k, ph in enumerate(phrases(mel, spb)):
        phrase_of += [k] * len(ph)
    inside = [phrase_of[i] == phrase_of[i + GRAM - 1] for i in range(len(grams))]
    both = _recurs([iv + rh for iv, rh in grams])
    n = len(grams)
    return RecurrenceParts(
        rhythm=sum(_recurs([rh for _, rh in grams])) / n,
        intervals=sum(_recurs([iv for iv, _ in grams])) / n,
        inside=sum(inside) / n,
        inside_recur=sum(b for b, i in zip(both, inside) if i) / max(1, sum(inside)),
    )


def categories(events: Sequence[Event], mel: Sequence[Note]) -> list[str]:
    """Each melody note's category ("chord", "scale" or "chromatic") against the chord (from the
    ``chord`` markers) and the key and mode (``context`` markers) in force when it starts."""
    marks: list[tuple[float, frozenset[int], frozenset[int]]] = []
    scale: frozenset[int] = frozenset(range(12))
    for e in events:
        if e.kind != "marker":
            continue
        words = e.text.split()
        if words[0] == "context":
            scale = frozenset(scale_pcs(pc_from_name(words[1]), words[2]))
        elif words[0] == "chord":
            root = pc_from_name(words[1])
            marks.append((e.time, frozenset((root + i) % 12 for i in QUALITIES[words[2]]), scale))
    out: list[str] = []
    j = -1
    for n in mel:
        while j + 1 < len(marks) and marks[j + 1][0] <= n.start:
            j += 1
        chord, sc = (marks[j][1], marks[j][2]) if j >= 0 else (frozenset(), scale)
        pc = n.pitch % 12
        out.append("chord" if pc in chord else "scale" if pc in sc else "chromatic")
    return out


def split_deviation(events: Sequence[Event], mel: Sequence[Note]) -> float:
    """The 70/25/5 rule's worst window: the largest distance (in points) of a category's share
    from its target over every window starting at a note that spans 10 minutes, or 100 notes
    where 10 minutes hold fewer (windows that would run past the end are not counted)."""
    cats = categories(events, mel)
    times = [n.start for n in mel]
    prefix = {name: [0] for name, _ in SPLIT}
    for c in cats:
        for name, counts in prefix.items():
            counts.append(counts[-1] + (c == name))
    end = duration(events)
    worst, j = 0.0, 0
    for i, start in enumerate(times):
        if start + SPLIT_WINDOW_S > end:
            break
        while j < len(times) and (times[j] < start + SPLIT_WINDOW_S or j - i < SPLIT_WINDOW_NOTES):
            j += 1
        if j - i < SPLIT_WINDOW_NOTES:
            break
        for name, target in SPLIT:
            worst = max(worst, abs(100.0 * (prefix[name][j] - prefix[name][i]) / (j - i) - target))
    return worst


def clashes(events: Sequence[Event], spb: float) -> tuple[int, int]:
    """(melody notes a minor 2nd/9th above a held pad or bass note, those of them that are not
    short passing/neighbour tones on a weak position)."""
    mel = notes(events)
    held = [n for ch in (PAD_CHANNEL, BASS_CHANNEL) for n in notes(events, ch)]
    held.sort(key=lambda n: n.start)
    total = bad = 0
    j = 0
    active: list[Note] = []
    for n in mel:
        while j < len(held) and held[j].start < n.end:
            active.append(held[j])
            j += 1
        active = [h for h in active if h.end > n.start]
        overlap = [
            h for h in active
            if h.start < n.end and h.end > n.start and n.pitch > h.pitch and (n.pitch - h.pitch) % 12 == 1
            and min(h.end, n.end) - max(h.start, n.start) > 0.05
        ]
        if overlap:
            total += 1
            pos = n.start / spb
            weak = abs(pos - round(pos)) > 0.1 or round(pos) % 2 == 1
            if not (n.end - n.start <= SHORT_BEATS * spb + 0.06 and weak):
                bad += 1
    return total, bad


def inter_onsets(mel: Sequence[Note], spb: float) -> tuple[int, float]:
    """(distinct inter-onset intervals on the quarter-beat grid, each covering at least 1% of
    onsets; share of inter-onset intervals of 3 beats or more)."""
    iois = [quarter_beats(b.start - a.start, spb) for a, b in zip(mel, mel[1:])]
    counts: dict[float, int] = {}
    for x in iois:
        counts[x] = counts.get(x, 0) + 1
    distinct = sum(1 for c in counts.values() if c >= 0.01 * len(iois))
    return distinct, sum(1 for x in iois if x >= 3) / max(1, len(iois))


def velocity_autocorrelation(mel: Sequence[Note]) -> float:
    v = [n.velocity for n in mel]
    mu = statistics.fmean(v)
    den = sum((x - mu) ** 2 for x in v)
    return sum((a - mu) * (b - mu) for a, b in zip(v, v[1:])) / den if den else 0.0


def section_starts(events: Sequence[Event]) -> list[float]:
    return [e.time for e in events if e.kind == "marker" and e.text.startswith("section ")]


def _section_features(events: Sequence[Event], a: float, b: float) -> dict[str, float]:
    mel = [n for n in notes(events) if a <= n.start < b]
    pad = [n for n in notes(events, PAD_CHANNEL) if n.start < b and n.end > a]
    bass = [n for n in notes(events, BASS_CHANNEL) if n.start < b and n.end > a]
    mid = (a + b) / 2
    pad_now = [n.pitch for n in pad if n.start <= mid < n.end] or [n.pitch for n in pad]
    return {
        "density": len(mel) / ((b - a) / 60.0),
        "register": statistics.median(n.pitch for n in mel) if mel else float("nan"),
        "melody": float(bool(mel)),
        "bass": float(sum(min(n.end, b) - max(n.start, a) for n in bass) > 0.5 * (b - a)),
        "pad_span": float(max(pad_now) - min(pad_now)) if pad_now else 0.0,
    }


def boundary_changes(events: Sequence[Event]) -> list[int]:
    """For each section boundary, how many of these change: melody density (by 40% or more),
    register (median pitch, 5 semitones or more), a layer entering or leaving (melody, bass),
    the pad's span (4 semitones or more)."""
    starts = section_starts(events) + [duration(events)]
    feats = [_section_features(events, a, b) for a, b in zip(starts, starts[1:])]
    out = []
    for x, y in zip(feats, feats[1:]):
        a, b = x["density"], y["density"]
        n = int(abs(b - a) >= 0.4 * a if a > 0 else b > 0)
        reg = x["register"] == x["register"] and y["register"] == y["register"]
        n += int(reg and abs(x["register"] - y["register"]) >= 5)
        n += int(x["melody"] != y["melody"] or x["bass"] != y["bass"])
        n += int(abs(x["pad_span"] - y["pad_span"]) >= 4)
        out.append(n)
    return out


def window_features(events: Sequence[Event], spb: float, window: float = 300.0) -> list[list[float]]:
    """Ten features per window (for the between/within-seed variance ratio)."""
    mel_all = notes(events)
    pad_all = notes(events, PAD_CHANNEL)
    bass_all = notes(events, BASS_CHANNEL)
    end = duration(events)
    rows = []
    t = 0.0
    while t + window <= end + 1e-9:
        mel = [n for n in mel_all if t <= n.start < t + window]
        pad = [n for n in pad_all if t <= n.start < t + window]
        bass = [n for n in bass_all if n.start < t + window and n.end > t]
        if len(mel) >= 8 and pad:
            ints = [abs(b.pitch - a.pitch) for a, b in zip(mel, mel[1:])]
            rows.append([
                statistics.fmean(n.pitch for n in mel),
                len(mel) / (window / 60),
                statistics.fmean((n.end - n.start) / spb for n in mel),
                statistics.fmean(n.velocity for n in mel),
                silent_share(mel, window),
                statistics.fmean(ints),
                sum(1 for i in ints if i <= 2) / len(ints),
                statistics.fmean(n.pitch for n in pad),
                sum(min(n.end, t + window) - max(n.start, t) for n in bass) / window,
                statistics.fmean(len(p) for p in phrases(mel, spb)),
            ])
        t += window
    return rows


FEATURES = (
    "melody pitch", "notes/min", "note length", "velocity", "silent share", "interval",
    "steps", "pad pitch", "bass share", "phrase length",
)  # the ten columns of window_features


def between_within_features(per_seed: Sequence[Sequence[Sequence[float]]]) -> list[float]:
    """Per feature (see FEATURES): the variance of the seeds' means over the mean within-seed
    variance of the windows."""
    ratios = []
    for f in range(len(per_seed[0][0])):
        means = [statistics.fmean(r[f] for r in rows) for rows in per_seed]
        within = statistics.fmean(statistics.pvariance([r[f] for r in rows]) for rows in per_seed)
        between = statistics.pvariance(means)
        ratios.append(between / within if within > 0 else float("inf"))
    return ratios


def between_within(per_seed: Sequence[Sequence[Sequence[float]]]) -> float:
    """Median over features of (variance of the seeds' means) / (mean within-seed variance)."""
    return statistics.median(between_within_features(per_seed))
