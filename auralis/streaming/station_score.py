"""A station's music as a pure function of its seed, its parameter timeline and station time.

**Station clock.** Station time is wall time minus a fixed epoch (:data:`STATION_EPOCH`,
2026-01-01T00:00:00Z); chunk ``k`` is station time ``[k, k+1) x 0.1 s`` (4,410 frames at
44.1 kHz). Two processes whose clocks agree (NTP) are at the same chunk at the same moment.

**Segments.** Composing from the epoch would take ever longer, so the composition restarts
every ``segment_chunks`` chunks (default 6,000: 10 minutes): segment ``j`` is a fresh
:class:`~auralis.music.composer.Composer` whose seed is derived from the station seed and
``j`` (SHA-256), with the parameters in effect at the segment's start. Its notes are released
at the segment's end, like a section change. A process joining mid-segment composes the
segment from its start up to the join point (events only: ten minutes take a few ms) and so
knows which notes are sounding then.

**Parameter timeline.** An operator change is ``(station time T, params)``. In segment ``j``
it is applied by composing up to ``T`` and then calling ``set_params``, so it takes effect
at the first beat boundary at or after ``T`` whoever composes and however the work is
chunked (the composer's guarantee). A change at or before a segment's start is that
segment's initial parameters. Changes are added with :meth:`Score.schedule`; a cursor that
has already composed past a change it just learned of recomposes its segment with it and
splices (note-offs for notes that should not sound, note-ons for those that should).

Only ``Composer(params=, seed=)``, ``events_until``, ``set_params``, ``release_all`` and
``horizon`` of the composer are used.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from auralis.music.composer import Composer
from auralis.music.events import Event, marker_chord, marker_section
from auralis.music.params import MusicParams
from auralis.streaming.chunk import CHUNK_FRAMES, SAMPLE_RATE

#: Station time 0: 2026-01-01T00:00:00Z (Unix seconds).
STATION_EPOCH = 1_767_225_600.0
#: Default segment length: 6,000 chunks (10 minutes).
SEGMENT_CHUNKS = 6000

__all__ = [
    "SEGMENT_CHUNKS",
    "STATION_EPOCH",
    "ChunkScore",
    "ParamChange",
    "Score",
    "ScoreCursor",
    "StationClock",
    "chunk_time",
]


def chunk_time(k: int) -> float:
    """Station time (s) at which chunk ``k`` starts."""
    return k * CHUNK_FRAMES / SAMPLE_RATE


class StationClock:
    """Maps wall time to station time and chunk indices (see the module docstring)."""

    def __init__(self, epoch: float = STATION_EPOCH, wall: Callable[[], float] = time.time) -> None:
        if (
            isinstance(epoch, bool)
            or not isinstance(epoch, (int, float))
            or not math.isfinite(epoch)
        ):
            raise ValueError(f"epoch must be a finite number of Unix seconds, got {epoch!r}")
        self.epoch = float(epoch)
        self._wall = wall

    def now(self) -> float:
        """Station time now, in seconds."""
        return self._wall() - self.epoch

    def chunk_at(self, station_time: float) -> int:
        """Index of the chunk playing at ``station_time``."""
        return math.floor(station_time * SAMPLE_RATE) // CHUNK_FRAMES

    def current_chunk(self) -> int:
        """Index of the chunk playing now."""
        return self.chunk_at(self.now())

    def wall_time(self, k: int) -> float:
        """Wall (Unix) time at which chunk ``k`` starts."""
        return self.epoch + chunk_time(k)


@dataclass(frozen=True, slots=True)
class ParamChange:
    """An operator change: ``params`` from the first beat at or after station time ``time``."""

    time: float
    params: MusicParams
    serial: int = 0  # order of arrival in this process (later wins at equal times)

    @property
    def chunk(self) -> int:
        """The first chunk that can carry the change (it sounds from the next beat on)."""
        return math.ceil(self.time * SAMPLE_RATE / CHUNK_FRAMES - 1e-9)


@dataclass(frozen=True, slots=True)
class ChunkScore:
    """What one chunk of a station plays: events in station seconds, and its musical state."""

    index: int
    events: tuple[Event, ...]
    chord: str | None
    section: int
    segment: int
    params: MusicParams


def segment_seed(seed: int, segment: int) -> int:
    """The composer seed of ``segment`` of a station with ``seed`` (stable across processes)."""
    digest = hashlib.sha256(f"auralis.station:{seed}:{segment}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class Score:
    """A station's seed, segment length and parameter timeline. Thread-safe."""

    def __init__(
        self, params: MusicParams, seed: int, *, segment_chunks: int = SEGMENT_CHUNKS
    ) -> None:
        if not isinstance(params, MusicParams):
            raise TypeError(f"params must be MusicParams, got {type(params).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if (
            isinstance(segment_chunks, bool)
            or not isinstance(segment_chunks, int)
            or segment_chunks < 10
        ):
            raise ValueError(f"segment_chunks must be an integer >= 10, got {segment_chunks!r}")
        self.seed = seed
        self.base_params = params
        self.segment_chunks = segment_chunks
        self._lock = threading.Lock()
        self._changes: tuple[ParamChange, ...] = ()  # sorted by (time, serial)
        self._serial = 0

    @property
    def changes(self) -> tuple[ParamChange, ...]:
        return self._changes

    @property
    def serial(self) -> int:
        """Changes scheduled so far (a cursor compares it with what it has seen)."""
        return self._serial

    def schedule(self, time_s: float, params: MusicParams) -> ParamChange:
        """Add a change at station time ``time_s``; returns it. Nothing is added if invalid."""
        if not isinstance(params, MusicParams):
            raise TypeError(f"params must be MusicParams, got {type(params).__name__}")
        if (
            isinstance(time_s, bool)
            or not isinstance(time_s, (int, float))
            or not math.isfinite(time_s)
        ):
            raise ValueError(f"time must be a finite number of station seconds, got {time_s!r}")
        with self._lock:
            self._serial += 1
            change = ParamChange(float(time_s), params, self._serial)
            changes = list(self._changes)
            bisect.insort(changes, change, key=lambda c: (c.time, c.serial))
            self._changes = tuple(changes)
        return change

    def forget_before(self, time_s: float) -> None:
        """Drop changes no cursor at or after ``time_s`` (a segment start) needs: those before
        it, except the latest one (that segment's initial parameters). Keeps the timeline small
        however many changes an operator makes."""
        with self._lock:
            old = [c for c in self._changes if c.time <= time_s]
            if len(old) > 1:
                self._changes = tuple([old[-1], *(c for c in self._changes if c.time > time_s)])

    def params_at(self, time_s: float) -> MusicParams:
        """The parameters of the latest change at or before ``time_s`` (the base if none)."""
        p = self.base_params
        for c in self._changes:
            if c.time > time_s:
                break
            p = c.params
        return p

    def segment_of(self, k: int) -> int:
        return k // self.segment_chunks

    def cursor(self, k: int) -> ScoreCursor:
        """A cursor whose next chunk is ``k``, with the notes sounding at chunk ``k``'s start."""
        return ScoreCursor(self, k)


class ScoreCursor:
    """Walks a :class:`Score` chunk by chunk. Used by one thread (the station's renderer).

    ``advance()`` returns the next chunk's events. The first call also returns note-ons for the
    notes already sounding at the cursor's start (they restart there), and a call after a late
    change also returns the splice (see the module docstring).
    """

    def __init__(self, score: Score, k: int) -> None:
        if isinstance(k, bool) or not isinstance(k, int):
            raise ValueError(f"chunk index must be an integer, got {k!r}")
        self.score = score
        self.next_chunk = k
        self._sounding: dict[tuple[int, int], int] = {}  # (channel, pitch) -> velocity
        self._pending: list[Event] = []  # events owed at the start of the next chunk
        self._seen_serial = 0
        self._build(k)
        start = chunk_time(k)
        self._pending = [
            Event(start, "note_on", ch, pitch, vel)
            for (ch, pitch), vel in sorted(self._sounding.items())
        ]

    # -- public -------------------------------------------------------------------------------
    @property
    def sounding(self) -> dict[tuple[int, int], int]:
        """Notes sounding after the chunks returned so far: (channel, pitch) -> velocity."""
        return dict(self._sounding)

    def advance(self) -> ChunkScore:
        """Events of chunk ``next_chunk`` (station seconds, in order); moves on by one chunk."""
        score = self.score
        k = self.next_chunk
        if score.serial != self._seen_serial:
            self._catch_up(k)
        out = self._pending
        self._pending = []
        n = score.segment_chunks
        if k % n == 0 and k // n != self._segment:  # a new segment starts with this chunk
            end = chunk_time(k) - self._seg_start
            out += self._shift(self._composer.release_all(end))
            self._new_segment(k // n)
        end_abs = chunk_time(k + 1)
        for c in self._changes_between(self._requested, end_abs):
            out += self._shift(self._composer.events_until(c.time - self._seg_start))
            self._set(c)
        out += self._shift(self._composer.events_until(end_abs - self._seg_start))
        self._requested = end_abs
        for ev in out:
            self._track(ev)
        self.next_chunk = k + 1
        return ChunkScore(
            k, tuple(out), self._chord, self._section, self._segment, self._params_at(chunk_time(k))
        )

    # -- internals ----------------------------------------------------------------------------
    def _build(self, k: int) -> None:
        """Compose the segment of chunk ``k`` from its start up to chunk ``k``'s start."""
        score = self.score
        self._seen_serial = score.serial
        self._sounding = {}
        self._chord: str | None = None
        self._section = 0
        self._new_segment(score.segment_of(k))
        target = chunk_time(k)
        for c in self._changes_between(self._seg_start, target, first_inclusive=False):
            for ev in self._composer.events_until(c.time - self._seg_start):
                self._track(ev)
            self._set(c)
        for ev in self._composer.events_until(target - self._seg_start):
            self._track(ev)
        self._requested = target

    def _new_segment(self, j: int) -> None:
        score = self.score
        self._segment = j
        self._seg_start = chunk_time(j * score.segment_chunks)
        params = score.params_at(self._seg_start)
        self._composer = Composer(params=params, seed=segment_seed(score.seed, j))
        self._effective: list[tuple[float, MusicParams]] = [(self._seg_start, params)]
        self._requested = self._seg_start
        self._chord = None
        self._section = 0

    def _changes_between(
        self, lo: float, hi: float, *, first_inclusive: bool = True
    ) -> list[ParamChange]:
        """Changes of this segment with ``lo <= time < hi`` (``lo < time`` if not inclusive)."""
        seg_end = chunk_time((self._segment + 1) * self.score.segment_chunks)
        out = []
        for c in self.score.changes:
            if c.time <= self._seg_start or c.time >= seg_end:
                continue  # the segment's initial parameters / a later segment's
            if (c.time >= lo if first_inclusive else c.time > lo) and c.time < hi:
                out.append(c)
        return out

    def _set(self, c: ParamChange) -> None:
        effective = self._composer.set_params(c.params)
        self._effective.append((self._seg_start + effective, c.params))

    def _params_at(self, t: float) -> MusicParams:
        p = self._effective[0][1]
        for when, params in self._effective:
            if when <= t + 1e-9:
                p = params
        return p

    def _catch_up(self, k: int) -> None:
        """New changes arrived. Ones not yet composed past apply on their own in ``advance``;
        if one lies before what was composed already, recompose and splice."""
        new = [c for c in self.score.changes if c.serial > self._seen_serial]
        self._seen_serial = self.score.serial
        if not any(c.time < self._requested for c in new):
            return
        before = self._sounding
        self._build(k)
        start = chunk_time(k)
        after = self._sounding
        splice = [
            Event(start, "note_off", ch, p) for (ch, p) in sorted(before) if (ch, p) not in after
        ]
        splice += [
            Event(start, "note_on", ch, p, vel)
            for (ch, p), vel in sorted(after.items())
            if (ch, p) not in before
        ]
        self._sounding = dict(before)  # the splice events update it when returned
        self._pending += splice

    def _shift(self, events: list[Event]) -> list[Event]:
        base = self._seg_start
        return [replace(ev, time=base + ev.time) for ev in events]

    def _track(self, ev: Event) -> None:
        kind = ev.kind
        if kind == "note_on":
            self._sounding[(ev.channel, ev.pitch)] = ev.velocity
        elif kind == "note_off":
            self._sounding.pop((ev.channel, ev.pitch), None)
        elif (chord := marker_chord(ev)) is not None:
            self._chord = chord
        elif (section := marker_section(ev)) is not None:
            self._section = section
