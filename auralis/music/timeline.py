"""A listener's parameter timeline: the seed and every accepted change, at the beat it took effect.

A personal stream is deterministic: the same seed and the same parameter changes at the same
beats give the same events. A timeline records exactly that, so the music a listener heard can be
composed again (and rendered again, `auralis.audio.offline.render_span`). The JSON form is the
one documented in docs/renders.md (``"format": "auralis-timeline"``, ``"version": 1``)::

    {"format": "auralis-timeline", "version": 1, "seed": 7,
     "params": {"key": 60, "mode": "aeolian", "bpm": 60.0, "intensity": 0.5},
     "changes": [{"beat": 37, "time": 37.0, "seq": 371, "params": {...every parameter...}}],
     "end": 95.3}

- ``beat`` (the authority): the number of beats the composer had generated when the change was
  handed to it; the change takes effect at that beat. Beats strictly increase.
- ``time`` and ``seq``: informational (the beat's time in seconds; the first 100 ms chunk whose
  music follows the change). Checked for type only.
- ``params``: the parameters in effect from that beat on, every one of them (validated by
  `MusicParams`, whatever fields it has).
- ``end``: optional; seconds of audio the stream had sent when the timeline was taken.

`TimelineComposer` is a composer driven by a timeline: it applies each change at its beat, so its
events are those of the stream that recorded the timeline, however its calls are chunked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from auralis.music.composer import Composer
from auralis.music.events import Event
from auralis.music.params import MusicParams

TIMELINE_FORMAT = "auralis-timeline"
TIMELINE_VERSION = 1
#: Changes a timeline may carry (a listener changing something every 2 s for 3 hours).
MAX_CHANGES = 5000
#: The furthest a timeline reaches: 24 hours of beats at the fastest tempo.
MAX_BEAT = 24 * 60 * 90
MAX_SEED = 2**63


class TimelineError(ValueError):
    """A timeline (or a request about one) that cannot be used; ``field`` names the culprit,
    e.g. ``timeline.changes[2].beat``."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True, slots=True)
class Change:
    """Parameters in effect from ``beat`` on (``time``, ``seq``: informational)."""

    beat: int
    params: MusicParams
    time: float | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Timeline:
    seed: int
    params: MusicParams
    changes: tuple[Change, ...] = ()
    end: float | None = None  # seconds of audio sent when the timeline was taken

    def with_change(self, change: Change) -> Timeline:
        """The timeline with `change` added; a change at the same beat replaces the last one
        (the composer applies only the latest of several changes handed to it before a beat)."""
        if self.changes and change.beat < self.changes[-1].beat:
            raise ValueError(f"change at beat {change.beat} comes before beat {self.changes[-1].beat}")
        kept = self.changes[:-1] if self.changes and self.changes[-1].beat == change.beat else self.changes
        return replace(self, changes=kept + (change,))

    def with_end(self, end: float | None) -> Timeline:
        return replace(self, end=end)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": TIMELINE_FORMAT,
            "version": TIMELINE_VERSION,
            "seed": self.seed,
            "params": self.params.as_dict(),
            "changes": [
                {
                    "beat": c.beat,
                    **({"time": c.time} if c.time is not None else {}),
                    **({"seq": c.seq} if c.seq is not None else {}),
                    "params": c.params.as_dict(),
                }
                for c in self.changes
            ],
        }
        if self.end is not None:
            out["end"] = self.end
        return out

    @classmethod
    def from_json(cls, obj: Any, where: str = "timeline") -> Timeline:
        """Validate a timeline's JSON form; TimelineError naming the field otherwise."""
        if not isinstance(obj, dict):
            raise TimelineError(where, "must be a JSON object")
        allowed = {"format", "version", "seed", "params", "changes", "end"}
        unknown = sorted(set(obj) - allowed)
        if unknown:
            raise TimelineError(f"{where}.{unknown[0]}", f"unknown field; allowed: {', '.join(sorted(allowed))}")
        if obj.get("format") != TIMELINE_FORMAT:
            raise TimelineError(f"{where}.format", f"must be {TIMELINE_FORMAT!r}")
        if obj.get("version") != TIMELINE_VERSION or isinstance(obj.get("version"), bool):
            raise TimelineError(f"{where}.version", f"must be {TIMELINE_VERSION} (this server reads version {TIMELINE_VERSION})")
        seed = obj.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int) or not -MAX_SEED < seed < MAX_SEED:
            raise TimelineError(f"{where}.seed", "must be an integer")
        params = _params(obj.get("params"), f"{where}.params")
        raw = obj.get("changes", [])
        if not isinstance(raw, list):
            raise TimelineError(f"{where}.changes", "must be a list")
        if len(raw) > MAX_CHANGES:
            raise TimelineError(f"{where}.changes", f"at most {MAX_CHANGES} changes, got {len(raw)}")
        changes: list[Change] = []
        for i, c in enumerate(raw):
            at = f"{where}.changes[{i}]"
            if not isinstance(c, dict):
                raise TimelineError(at, "must be a JSON object")
            unknown = sorted(set(c) - {"beat", "time", "seq", "params"})
            if unknown:
                raise TimelineError(f"{at}.{unknown[0]}", "unknown field; allowed: beat, params, seq, time")
            beat = c.get("beat")
            if isinstance(beat, bool) or not isinstance(beat, int) or not 0 <= beat <= MAX_BEAT:
                raise TimelineError(f"{at}.beat", f"must be an integer within 0..{MAX_BEAT}")
            if changes and beat <= changes[-1].beat:
                raise TimelineError(f"{at}.beat", "beats must strictly increase")
            time = c.get("time")
            if time is not None and not _finite(time):
                raise TimelineError(f"{at}.time", "must be a finite number of seconds")
            seq = c.get("seq")
            if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
                raise TimelineError(f"{at}.seq", "must be a non-negative integer")
            changes.append(Change(beat, _params(c.get("params"), f"{at}.params"), time, seq))
        end = obj.get("end")
        if end is not None and (not _finite(end) or end < 0):
            raise TimelineError(f"{where}.end", "must be a non-negative number of seconds")
        return cls(seed, params, tuple(changes), float(end) if end is not None else None)


def _finite(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def _params(obj: Any, where: str) -> MusicParams:
    """Parameters, validated by MusicParams whatever fields it has (missing ones: the defaults)."""
    if not isinstance(obj, dict):
        raise TimelineError(where, "must be a JSON object of parameters")
    try:
        return MusicParams().with_changes(**obj)
    except (ValueError, TypeError) as exc:
        text = str(exc)  # "bpm must be ..." or "unknown parameter 'colour'; ..."
        first = text.split(" ", 1)[0]
        name = first if first in obj else next((k for k in obj if f"{k!r}" in text), None)
        raise TimelineError(f"{where}.{name}" if name else where, text) from None


class TimelineComposer:
    """A composer that applies a timeline's changes at their beats (see the module docstring)."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.composer = Composer(params=timeline.params, seed=timeline.seed)
        self._next = 0  # index of the next change to apply

    def _apply_due(self) -> None:
        changes, c = self.timeline.changes, self.composer
        while self._next < len(changes) and changes[self._next].beat <= c.beat:
            c.set_params(changes[self._next].params)
            self._next += 1

    def events_until(self, t: float) -> list[Event]:
        """As `Composer.events_until`, with each change applied exactly at its beat."""
        c = self.composer
        out: list[Event] = []
        while True:
            self._apply_due()
            if self._next >= len(self.timeline.changes) or c.horizon >= t:
                out += c.events_until(t)
                return out
            # a change is due at a later beat: generate one beat at a time until it is reached
            out += c.events_until(min(t, math.nextafter(c.horizon, math.inf)))


@dataclass
class Chase:
    """What sounds at a moment, from the events before it: held notes (with their velocities)
    and each channel's last controller values. Rendering or writing from the middle of a piece
    starts by replaying this state."""

    notes: dict[tuple[int, int], int] = field(default_factory=dict)  # (channel, pitch) -> velocity
    controls: dict[tuple[int, int], int] = field(default_factory=dict)  # (channel, cc) -> value
    bpm: float | None = None
    markers: dict[str, str] = field(default_factory=dict)  # "context" / "chord" / "section" -> text

    def feed(self, events: Iterable[Event]) -> None:
        for ev in events:
            if ev.kind == "note_on" and ev.velocity > 0:
                self.notes[(ev.channel, ev.pitch)] = ev.velocity
            elif ev.kind in ("note_off", "note_on"):
                self.notes.pop((ev.channel, ev.pitch), None)
            elif ev.kind == "control":
                self.controls[(ev.channel, ev.control)] = ev.value
            elif ev.kind == "tempo":
                self.bpm = ev.bpm
            elif ev.kind == "marker" and ev.text:
                self.markers[ev.text.split(" ", 1)[0]] = ev.text

    def sounding(self, t: float) -> list[Event]:
        """Events at `t` that bring a fresh synth to this state: controllers, then notes."""
        out = [Event(t, "control", ch, control=cc, value=v) for (ch, cc), v in sorted(self.controls.items())]
        out += [Event(t, "note_on", ch, p, vel) for (ch, p), vel in sorted(self.notes.items())]
        return out


def span_events(events: Iterable[Event], start: float, end: float) -> list[Event]:
    """The events of ``[start, end)`` as a piece of its own, starting at 0: first the state at
    `start` (tempo, the context, chord and section markers, controllers, the notes still held),
    then every event of the span in its order, then note-offs at ``end - start`` for the notes
    still held. This is the MIDI a download of the span carries."""
    before = Chase()
    inside: list[Event] = []
    for ev in events:
        if ev.time < start:
            before.feed([ev])
        elif ev.time < end:
            inside.append(replace(ev, time=ev.time - start))
    head: list[Event] = []
    if before.bpm is not None:
        head.append(Event(0.0, "tempo", bpm=before.bpm))
    for kind in ("context", "section", "chord"):
        if kind in before.markers:
            head.append(Event(0.0, "marker", text=before.markers[kind]))
    head += before.sounding(0.0)
    after = Chase(notes=dict(before.notes))
    after.feed(inside)
    tail = [Event(end - start, "note_off", ch, p) for (ch, p) in sorted(after.notes)]
    return head + inside + tail
