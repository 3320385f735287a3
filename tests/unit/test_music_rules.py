"""One test per musical rule of the composer, measured over long seeded runs.

Each run is generated once per module (an hour costs well under a second) and analysed from its
events and markers alone, the way a listener-facing layer would see it.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from functools import cache

import pytest

from auralis.music.composer import Composer
from auralis.music.events import MELODY_CHANNEL, PAD_CHANNEL, Event
from auralis.music.harmony import is_dominant_to_tonic
from auralis.music.params import MODES, MusicParams
from auralis.music.theory import QUALITIES, pc_from_name, scale_pcs

HOUR = 3600.0
TEN_MINUTES = 600.0


@dataclass(frozen=True)
class Note:
    start: float
    end: float
    pitch: int
    velocity: int


@dataclass(frozen=True)
class ChordMark:
    time: float
    root: int
    quality: str
    key: int  # tonic pitch class of the context in force
    mode: str

    @property
    def pcs(self) -> frozenset[int]:
        return frozenset((self.root + i) % 12 for i in QUALITIES[self.quality])


@cache
def run(seed: int = 0, minutes: float = 60.0, **params: object) -> tuple[Event, ...]:
    c = Composer(MusicParams(**params), seed=seed)
    end = minutes * 60.0
    return tuple(c.events_until(end) + c.release_all(end))


def notes(events: tuple[Event, ...], channel: int = MELODY_CHANNEL) -> list[Note]:
    open_: dict[int, Event] = {}
    out: list[Note] = []
    for e in events:
        if e.channel != channel:
            continue
        if e.kind == "note_on":
            assert e.pitch not in open_, f"overlapping note {e}"
            open_[e.pitch] = e
        elif e.kind == "note_off":
            on = open_.pop(e.pitch)
            out.append(Note(on.time, e.time, e.pitch, on.velocity))
    assert not open_
    return sorted(out, key=lambda n: n.start)


def markers(events: tuple[Event, ...], prefix: str) -> list[tuple[float, str]]:
    return [(e.time, e.text) for e in events if e.kind == "marker" and e.text.startswith(prefix)]


def chords(events: tuple[Event, ...]) -> list[ChordMark]:
    key, mode = 0, "aeolian"
    out = []
    for e in events:
        if e.kind != "marker":
            continue
        words = e.text.split()
        if words[0] == "context":
            key, mode = pc_from_name(words[1]), words[2]
        elif words[0] == "chord":
            out.append(ChordMark(e.time, pc_from_name(words[1]), words[2], key, mode))
    return out


def chord_at(chs: list[ChordMark], t: float) -> ChordMark:
    lo, hi = 0, len(chs) - 1
    while lo < hi:  # last chord with time <= t
        mid = (lo + hi + 1) // 2
        if chs[mid].time <= t:
            lo = mid
        else:
            hi = mid - 1
    return chs[lo]


def categories(events: tuple[Event, ...]) -> list[tuple[float, str]]:
    chs = chords(events)
    out = []
    for n in notes(events):
        ch = chord_at(chs, n.start)
        pc = n.pitch % 12
        cat = "chord" if pc in ch.pcs else "scale" if pc in scale_pcs(ch.key, ch.mode) else "chromatic"
        out.append((n.start, cat))
    return out


# --------------------------------------------------------------------------- 1. harmony


@pytest.mark.parametrize("mode", MODES)
def test_never_dominant_to_tonic(mode: str) -> None:
    """No chord rooted a fifth above the tonic (any quality: V, V7, v...) moves to the tonic."""
    chs = chords(run(seed=11, mode=mode, key=62))
    assert len(chs) > 300
    for a, b in zip(chs, chs[1:]):
        assert not is_dominant_to_tonic(a.root, b.root, b.key), (a, b)
        assert a.root != b.root  # a chord change always changes the root
    # The fifth-degree chord does occur (so the rule is exercised, not avoided by absence).
    assert any(c.root == (c.key + 7) % 12 for c in chs)


@pytest.mark.parametrize("mode", MODES)
def test_chords_belong_to_the_mode(mode: str) -> None:
    chs = chords(run(seed=12, mode=mode, key=65))
    scale = set(scale_pcs(65, mode))
    assert all(c.pcs <= scale for c in chs)
    qualities = {c.quality for c in chs}
    assert {"sus2", "maj7", "min7"} & qualities and qualities & {"add9", "madd9"}
    assert qualities & {"maj", "min"}
    # Modal and circular: the tonic chord is the most frequent root.
    roots = [c.root for c in chs]
    assert max(set(roots), key=roots.count) == 65 % 12


@pytest.mark.parametrize("bpm", [40, 65, 90])
def test_chords_last_one_to_four_bars(bpm: int) -> None:
    bar = 4 * 60.0 / bpm
    chs = chords(run(seed=3, bpm=bpm))
    lengths = [(b.time - a.time) / bar for a, b in zip(chs, chs[1:])]
    assert all(abs(x - round(x)) < 1e-6 for x in lengths)  # chords change on bar lines
    assert min(lengths) > 1 - 1e-6 and max(lengths) < 4 + 1e-6
    assert {round(x) for x in lengths} == {1, 2, 3, 4}


def test_harmonic_rhythm_is_proportional_to_bpm() -> None:
    """Chord changes per minute scale with BPM: chord length in bars does not depend on it."""
    rates = {}
    mean_bars = {}
    for bpm in (40, 60, 80, 90):
        chs = chords(run(seed=5, bpm=bpm))
        rates[bpm] = (len(chs) - 1) / ((chs[-1].time - chs[0].time) / 60.0)
        mean_bars[bpm] = statistics.mean(
            (b.time - a.time) / (240.0 / bpm) for a, b in zip(chs, chs[1:])
        )
    assert 1.8 <= rates[80] / rates[40] <= 2.2, rates
    assert 1.35 <= rates[90] / rates[60] <= 1.65, rates
    assert max(mean_bars.values()) / min(mean_bars.values()) < 1.12, mean_bars


@pytest.mark.parametrize("bpm", [40, 60, 90])
def test_sections_every_30_to_90_seconds(bpm: int) -> None:
    events = run(seed=7, bpm=bpm)
    sections = markers(events, "section ")
    assert [t for _, t in sections] == [f"section {n}" for n in range(1, len(sections) + 1)]
    starts = [t for t, _ in sections]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(gaps) >= 40
    assert 30.0 <= min(gaps) and max(gaps) <= 90.0, (min(gaps), max(gaps))
    assert statistics.pstdev(gaps) > 8  # spread over the range, not a fixed period
    # Each section starts on a chord, with a new cycle, and shifts the pad's register or density.
    chord_times = {t for t, _ in markers(events, "chord ")}
    assert all(t in chord_times for t in starts)
    pad = notes(events, PAD_CHANNEL)
    shifted = 0
    for a, b, c in zip(starts, starts[1:], starts[2:]):
        before = [n.pitch for n in pad if n.start < b and n.end > a]
        after = [n.pitch for n in pad if n.start < c and n.end > b]
        sim_before = max(sum(1 for n in pad if n.start <= t < n.end) for t in (a, (a + b) / 2))
        sim_after = max(sum(1 for n in pad if n.start <= t < n.end) for t in (b, (b + c) / 2))
        if statistics.mean(before) != statistics.mean(after) or sim_before != sim_after:
            shifted += 1
    assert shifted >= 0.9 * (len(starts) - 2)


def test_chord_sequence_is_not_periodic() -> None:
    chs = chords(run(seed=21))
    seq = [(c.root, c.quality) for c in chs]
    n = len(seq)
    for period in range(1, n // 2):
        same = sum(1 for i in range(n - period) if seq[i] == seq[i + period])
        assert same / (n - period) < 0.5, period
    # No run of 24 chords (with their lengths) occurs twice in the hour.
    timed = [(c.root, c.quality, round(b.time - c.time, 6)) for c, b in zip(chs, chs[1:])]
    windows = [tuple(timed[i : i + 24]) for i in range(len(timed) - 23)]
    assert len(set(windows)) == len(windows)


# --------------------------------------------------------------------------- 2. melody


@pytest.mark.parametrize(
    ("intensity", "bpm", "mode"),
    [(0.5, 60, "aeolian"), (0.1, 40, "phrygian"), (0.9, 90, "lydian"), (0.3, 55, "dorian")],
)
def test_melody_split_70_25_5_in_every_ten_minutes(intensity: float, bpm: int, mode: str) -> None:
    """Every window (one starting at each note) of 10 minutes, or of 100 notes where 10 minutes
    hold fewer (the phrased melody of issue 14 is sparse when calm: 60-90 notes in 10 minutes at
    intensity 0.1 and 40 BPM, where one note is 1.5 points), is within 3 points of each target."""
    cats = categories(run(seed=31, intensity=intensity, bpm=bpm, mode=mode))
    times = [t for t, _ in cats]
    prefix = {name: [0] for name in ("chord", "scale", "chromatic")}
    for _, c in cats:
        for name, counts in prefix.items():
            counts.append(counts[-1] + (c == name))
    j = 0
    windows = 0
    for i, start in enumerate(times):
        if start + TEN_MINUTES > HOUR:
            break
        while j < len(times) and (times[j] < start + TEN_MINUTES or j - i < 100):
            j += 1
        if j - i < 100:
            break
        total = j - i
        assert total >= 100
        for name, target in (("chord", 70.0), ("scale", 25.0), ("chromatic", 5.0)):
            share = 100.0 * (prefix[name][j] - prefix[name][i]) / total
            assert abs(share - target) <= 3.0, (name, share, start)
        windows += 1
    assert windows > 250


def test_chromatic_notes_are_passing_tones() -> None:
    events = run(seed=32, intensity=0.7)
    mel = notes(events)
    chs = chords(events)
    scale = set(scale_pcs(60, "aeolian"))
    chromatic = 0
    for i, n in enumerate(mel):
        if n.pitch % 12 in scale:
            continue
        chromatic += 1
        if i == len(mel) - 1:  # cut off by the end of the piece, before its resolution
            assert n.end == HOUR
            continue
        assert i > 0
        prev, nxt = mel[i - 1], mel[i + 1]
        assert prev.pitch % 12 in scale and nxt.pitch % 12 in scale
        assert abs(nxt.pitch - prev.pitch) == 2 and min(prev.pitch, nxt.pitch) < n.pitch < max(prev.pitch, nxt.pitch)
        assert prev.end == n.start and n.end == nxt.start  # connected: a passing tone
    assert chromatic > 50 and chs


def test_melody_velocities_are_humanised() -> None:
    vel = [n.velocity for n in notes(run(seed=33))]
    assert min(vel) >= 20 and max(vel) <= 100
    assert statistics.pstdev(vel) > 4 and len(set(vel)) > 20


def test_melody_breathes_in_phrases_at_every_intensity() -> None:
    """Phrases with rests, not a per-slot coin flip (issue 14): the melody rests often even at
    full intensity, and a large part of the time when calm."""
    for intensity, rests_per_hour, silent_share in ((1.0, 120, 0.15), (0.2, 120, 0.40)):
        mel = notes(run(seed=34, intensity=intensity, bpm=60))
        gaps = [b.start - a.end for a, b in zip(mel, mel[1:]) if b.start > a.end + 1e-9]
        rests = [g for g in gaps if g >= 1.0]
        assert len(rests) >= rests_per_hour and sum(gaps) / HOUR >= silent_share, (len(rests), sum(gaps) / HOUR)
    for intensity in (0.0, 1.0):
        mel = notes(run(seed=34, intensity=intensity, bpm=60))
        starts = {round(n.start, 6) for n in mel}
        assert len(starts) == len(mel)


def test_melody_contour_is_stepwise_with_resolved_leaps_and_bounded_range() -> None:
    for seed, intensity in ((35, 0.5), (36, 0.9), (37, 0.2)):
        events = run(seed=seed, intensity=intensity)
        mel = notes(events)
        intervals = [b.pitch - a.pitch for a, b in zip(mel, mel[1:])]
        small = sum(1 for d in intervals if abs(d) <= 4)
        steps = sum(1 for d in intervals if abs(d) <= 2)
        leaps = sum(1 for d in intervals if abs(d) > 4)
        assert small / len(intervals) >= 0.85
        assert steps / len(intervals) >= 0.4
        assert leaps / len(intervals) <= 0.12
        assert max(abs(d) for d in intervals) <= 12
        for d, nxt in zip(intervals, intervals[1:]):
            if abs(d) > 4:  # a leap is followed by a step back
                assert 1 <= abs(nxt) <= 2 and (nxt > 0) != (d > 0), (d, nxt)
        pitches = [n.pitch for n in mel]
        assert 55 <= min(pitches) and max(pitches) <= 91
        # Within a section the melody keeps to its register (15 semitones), give or take the
        # way in from the previous section's register (a shift of at most 4) and a leap's step back.
        starts = [t for t, _ in markers(events, "section ")] + [HOUR]
        for a, b in zip(starts, starts[1:]):
            inside = [n.pitch for n in mel if a <= n.start < b]
            if inside:
                assert max(inside) - min(inside) <= 21


# --------------------------------------------------------------------------- 3. pad


def test_pad_voice_leading_holds_common_tones_and_moves_little() -> None:
    events = run(seed=41)
    section_times = {t for t, _ in markers(events, "section ")}
    chs = chords(events)
    sounding: set[int] = set()
    by_time: dict[float, list[Event]] = {}
    for e in events:
        if e.channel == PAD_CHANNEL and e.kind in ("note_on", "note_off"):
            by_time.setdefault(e.time, []).append(e)
    moves: list[int] = []
    checked = pitch_holds = pitch_commons = 0
    for ch in chs:
        evs = by_time.get(ch.time, [])
        offs = {e.pitch for e in evs if e.kind == "note_off"}
        ons = {e.pitch for e in evs if e.kind == "note_on"}
        if sounding and ch.time not in section_times:
            checked += 1
            for p in sounding:
                if p % 12 in ch.pcs:
                    pitch_holds += p not in offs
                    pitch_commons += 1
            kept = {p % 12 for p in sounding - offs}
            assert {p % 12 for p in sounding} & ch.pcs <= kept, f"a common tone dropped at {ch}"
            for p in offs:  # each released voice moved to its nearest new pitch
                moves.append(min((abs(q - p) for q in ons), default=0))
        sounding = (sounding - offs) | ons
        pcs = {p % 12 for p in sounding}
        assert pcs <= ch.pcs and ch.pcs.issuperset(pcs)  # the pad plays the chord...
        assert {(ch.root + i) % 12 for i in QUALITIES[ch.quality][:2]} <= pcs  # ...root and third
        assert 3 <= len(sounding) <= 6
    assert checked > 250
    assert pitch_holds / pitch_commons >= 0.97, (pitch_holds, pitch_commons)
    assert statistics.mean(moves) <= 3.0 and statistics.median(moves) <= 2, (statistics.mean(moves), pitch_holds / pitch_commons)


# --------------------------------------------------------------------------- 4. parameters


def test_intensity_drives_melody_density() -> None:
    for seed in (51, 52):
        for bpm in (40, 60, 90):
            high = notes(run(seed=seed, minutes=10, intensity=0.8, bpm=bpm))
            low = notes(run(seed=seed, minutes=10, intensity=0.2, bpm=bpm))
            assert len(high) >= 2 * len(low), (seed, bpm, len(high), len(low))
    counts = [len(notes(run(seed=53, minutes=10, intensity=i))) for i in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert counts == sorted(counts)


# --------------------------------------------------------------------------- 7. repetition


@pytest.mark.parametrize("intensity", [0.0, 0.5, 1.0])
def test_no_sixteen_note_sequence_repeats_within_an_hour(intensity: float) -> None:
    mel = notes(run(seed=61, intensity=intensity))
    # Lengths on the quarter-beat grid (60 BPM: seconds), so humanised timing cannot make two
    # statements of the same notes count as different.
    seq = [(n.pitch, round((n.end - n.start) * 4) / 4) for n in mel]
    grams = [tuple(seq[i : i + 16]) for i in range(len(seq) - 15)]
    assert len(grams) > 300
    assert len(set(grams)) == len(grams)


def test_marker_texts_are_exact() -> None:
    names = "C|C#|D|D#|E|F|F#|G|G#|A|A#|B"
    quality = "|".join(re.escape(q) for q in QUALITIES)
    pattern = re.compile(
        rf"(chord ({names}) ({quality})|context ({names}) ({'|'.join(MODES)})|section [1-9]\d*|palette classic)"
    )
    events = run(seed=71, minutes=10, key=66, mode="lydian")
    texts = [e.text for e in events if e.kind == "marker"]
    assert all(pattern.fullmatch(t) for t in texts), [t for t in texts if not pattern.fullmatch(t)]
    assert texts[:4] == ["context F# lydian", "palette classic", "section 1", texts[3]]
    assert texts[3].startswith("chord F# ")
