"""Parameter timelines: the JSON format, its validation, and a composer that replays one."""

from __future__ import annotations

import json
import random

import pytest

from auralis.music.composer import Composer
from auralis.music.events import Event
from auralis.music.params import MusicParams
from auralis.music.timeline import (
    MAX_CHANGES,
    Change,
    Timeline,
    TimelineComposer,
    TimelineError,
    span_events,
)

P0 = MusicParams(key=62, mode="dorian", bpm=60.0, intensity=0.5)
CHANGES = [MusicParams(key=62, mode="lydian", bpm=72.0, intensity=0.7), MusicParams(key=65, mode="aeolian", bpm=44.0, intensity=0.2)]


def live(seed: int, params: MusicParams, changes_at: dict[int, MusicParams], chunks: int) -> tuple[list[Event], Timeline]:
    """A composer driven as a stream drives it: events per 100 ms chunk, and changes handed over
    between chunks (`changes_at`: chunk -> params), recorded as the stream records them."""
    c = Composer(params, seed)
    timeline = Timeline(seed, params)
    events: list[Event] = []
    for k in range(chunks):
        if k in changes_at:
            beat = c.beat
            t = c.set_params(changes_at[k])
            timeline = timeline.with_change(Change(beat, changes_at[k], t, k))
        events += c.events_until((k + 1) * 4410 / 44100)
    return events, timeline


def test_a_replayed_timeline_gives_the_events_the_live_composer_gave_however_it_is_chunked() -> None:
    events, timeline = live(9, P0, {37: CHANGES[0], 38: CHANGES[0], 900: CHANGES[1]}, 1800)
    assert [c.params for c in timeline.changes] == CHANGES  # same beat: the latest replaced the first
    doc = json.loads(json.dumps(timeline.to_json()))  # through JSON, as the page and server carry it
    again = Timeline.from_json(doc)
    assert again == timeline
    rng = random.Random(1)
    replay = TimelineComposer(again)
    got: list[Event] = []
    t = 0.0
    while t < 180.0:
        t = min(180.0, t + rng.choice([0.05, 0.1, 0.37, 2.0, 11.0]))
        got += replay.events_until(t)
    assert got == [e for e in events if e.time < 180.0]
    assert any(e.kind == "tempo" and e.bpm == 72.0 for e in got) and any(e.kind == "tempo" and e.bpm == 44.0 for e in got)
    # without the changes the music differs: the test can fail
    assert TimelineComposer(Timeline(9, P0)).events_until(180.0) != got


def test_a_change_before_the_first_beat_replaces_the_start_parameters() -> None:
    events, timeline = live(3, P0, {0: CHANGES[1]}, 300)
    assert timeline.changes[0].beat == 0
    assert TimelineComposer(timeline).events_until(30.0) == [e for e in events if e.time < 30.0]


def test_the_json_form_is_versioned_and_complete() -> None:
    doc = Timeline(5, P0, (Change(12, CHANGES[0], 12.0, 120),), end=95.3).to_json()
    assert doc == {
        "format": "auralis-timeline",
        "version": 1,
        "seed": 5,
        "params": P0.as_dict(),
        "changes": [{"beat": 12, "time": 12.0, "seq": 120, "params": CHANGES[0].as_dict()}],
        "end": 95.3,
    }


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(format="other"), "timeline.format"),
        (lambda d: d.update(version=2), "timeline.version"),
        (lambda d: d.update(seed="7"), "timeline.seed"),
        (lambda d: d.update(seed=True), "timeline.seed"),
        (lambda d: d.update(extra=1), "timeline.extra"),
        (lambda d: d.update(params=[]), "timeline.params"),
        (lambda d: d["params"].update(bpm=500), "timeline.params.bpm"),
        (lambda d: d["params"].update(colour="red"), "timeline.params.colour"),
        (lambda d: d.update(changes={}), "timeline.changes"),
        (lambda d: d["changes"].append(5), "timeline.changes[1]"),
        (lambda d: d["changes"].append({"beat": 3, "params": {}}), "timeline.changes[1].beat"),
        (lambda d: d["changes"].append({"beat": -1, "params": {}}), "timeline.changes[1].beat"),
        (lambda d: d["changes"].append({"beat": 1.5, "params": {}}), "timeline.changes[1].beat"),
        (lambda d: d["changes"].append({"beat": 30, "params": {"mode": "nope"}}), "timeline.changes[1].params.mode"),
        (lambda d: d["changes"].append({"beat": 30, "params": {}, "seq": -2}), "timeline.changes[1].seq"),
        (lambda d: d["changes"].append({"beat": 30, "params": {}, "time": "x"}), "timeline.changes[1].time"),
        (lambda d: d["changes"].append({"beat": 30, "params": {}, "when": 1}), "timeline.changes[1].when"),
        (lambda d: d.update(changes=[{"beat": i, "params": {}} for i in range(MAX_CHANGES + 1)]), "timeline.changes"),
        (lambda d: d.update(end=-1), "timeline.end"),
        (lambda d: d.update(end=float("inf")), "timeline.end"),
    ],
)
def test_a_bad_timeline_is_refused_naming_the_field(mutate, field: str) -> None:
    doc = Timeline(5, P0, (Change(12, CHANGES[0]),)).to_json()
    mutate(doc)
    with pytest.raises(TimelineError) as err:
        Timeline.from_json(doc)
    assert err.value.field == field, str(err.value)
    with pytest.raises(TimelineError, match="JSON object"):
        Timeline.from_json([])


def test_span_events_start_with_the_state_and_end_with_note_offs() -> None:
    evs = [
        Event(0.0, "tempo", bpm=60.0),
        Event(0.0, "marker", text="context C aeolian"),
        Event(0.0, "control", 1, control=11, value=90),
        Event(1.0, "note_on", 1, 48, 50),
        Event(2.0, "note_on", 0, 72, 60),
        Event(3.0, "note_off", 0, 72),
        Event(4.0, "control", 1, control=11, value=80),
        Event(5.0, "note_on", 0, 74, 61),
        Event(9.0, "note_off", 0, 74),
    ]
    got = span_events(evs, 2.5, 6.0)
    assert got == [
        Event(0.0, "tempo", bpm=60.0),
        Event(0.0, "marker", text="context C aeolian"),
        Event(0.0, "control", 1, control=11, value=90),
        Event(0.0, "note_on", 0, 72, 60),
        Event(0.0, "note_on", 1, 48, 50),
        Event(0.5, "note_off", 0, 72),
        Event(1.5, "control", 1, control=11, value=80),
        Event(2.5, "note_on", 0, 74, 61),
        Event(3.5, "note_off", 0, 74),
        Event(3.5, "note_off", 1, 48),
    ]
