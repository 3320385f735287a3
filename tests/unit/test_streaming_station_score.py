"""The station score: the music at station time t depends only on seed, parameters and t."""

from __future__ import annotations

import math

import pytest

from auralis.music.params import MusicParams
from auralis.streaming.chunk import CHUNK_SECONDS
from auralis.streaming.station_score import (
    STATION_EPOCH,
    ChunkScore,
    Score,
    StationClock,
    chunk_time,
    segment_seed,
)

FOCUS = MusicParams(key=62).with_preset("focus")
SEG = 600  # 60 s segments keep the tests quick


def notes(chunks: list[ChunkScore]) -> list[tuple]:
    return [
        (round(e.time, 6), e.kind, e.channel, e.pitch, e.velocity, e.text)
        for c in chunks
        for e in c.events
    ]


def walk(score: Score, start: int, n: int) -> list[ChunkScore]:
    cur = score.cursor(start)
    return [cur.advance() for _ in range(n)]


def test_station_clock() -> None:
    wall = [STATION_EPOCH + 1234.5678]
    clock = StationClock(wall=lambda: wall[0])
    assert clock.now() == pytest.approx(1234.5678)
    assert clock.current_chunk() == 12345
    assert clock.wall_time(12345) == pytest.approx(STATION_EPOCH + 1234.5)
    assert chunk_time(10) == pytest.approx(1.0)
    assert clock.chunk_at(0.0999999) == 0 and clock.chunk_at(0.1) == 1
    with pytest.raises(ValueError):
        StationClock(epoch=math.nan)


def test_segment_seeds_are_stable_and_distinct() -> None:
    assert segment_seed(1001, 7) == segment_seed(1001, 7)
    assert len({segment_seed(1001, j) for j in range(100)} | {segment_seed(1002, 0)}) == 101
    assert segment_seed(1001, 0) == 5427831578277297861  # fixed forever: instances must agree


@pytest.mark.parametrize("join", [3, 250, 599, 600, 777])
def test_joining_anywhere_gives_the_same_events_as_playing_from_the_segment_start(
    join: int,
) -> None:
    score = Score(FOCUS, 1001, segment_chunks=SEG)
    base = 1000 * SEG  # far from the epoch, as in production
    full = walk(score, base, 900)
    late = walk(score, base + join, 900 - join)
    start = chunk_time(base + join)
    sounding = {}  # what sounds at the join for the instance that played all along
    for c in full[:join]:
        for e in c.events:
            if e.kind == "note_on":
                sounding[(e.channel, e.pitch)] = e.velocity
            elif e.kind == "note_off":
                sounding.pop((e.channel, e.pitch), None)
    # The joiner's first chunk restarts the notes sounding at its start (none at a segment
    # start: the segment's notes end there), then it plays exactly the same events as the
    # instance that played all along.
    first = late[0]
    if join % SEG == 0:
        # Nothing to restart; the new segment's own first notes may repeat the pitches and
        # velocities that just ended, so they are not picked out as restarts: the events below
        # must then match the other instance's exactly, less its releases.
        restart = []
    else:
        restart = [e for e in first.events if e.time == start and e.kind == "note_on"][: len(sounding)]
        restart = [e for e in restart if (e.channel, e.pitch) in sounding]
        assert {(e.channel, e.pitch): e.velocity for e in restart} == sounding
    rest = [e for e in first.events if e not in restart]
    released = {k for k in sounding} - {(e.channel, e.pitch) for e in restart}
    expected = [
        e
        for e in full[join].events
        if not (e.kind == "note_off" and e.time == start and (e.channel, e.pitch) in released)
    ]
    assert [(e.kind, e.channel, e.pitch) for e in rest] == [
        (e.kind, e.channel, e.pitch) for e in expected
    ]
    assert notes(late[1:]) == notes(full[join + 1 :])
    assert [(c.index, c.chord, c.section, c.params) for c in late] == [
        (c.index, c.chord, c.section, c.params) for c in full[join:]
    ]
    assert notes(full)  # there is music at all
    assert sum(e.kind == "note_on" for c in full for e in c.events) > 50


def test_a_segment_boundary_releases_the_notes_and_starts_a_new_composition() -> None:
    score = Score(FOCUS, 5, segment_chunks=SEG)
    chunks = walk(score, 3 * SEG - 100, 200)
    boundary = chunks[100]
    assert boundary.segment == 3 and chunks[99].segment == 2
    offs = [e for e in boundary.events if e.kind == "note_off" and e.time == chunk_time(3 * SEG)]
    assert offs  # the previous segment's notes are released at its end
    assert boundary.section == 1
    other = Score(FOCUS, 6, segment_chunks=SEG)  # another seed: other music
    assert notes(walk(other, 3 * SEG, 100)) != notes(chunks[100:])


def test_a_scheduled_change_applies_at_the_same_beat_for_every_instance() -> None:
    base = 500 * SEG
    change_at = chunk_time(base + 200)
    new = FOCUS.with_changes(mode="lydian", bpm=80, intensity=0.9)

    early = Score(FOCUS, 1001, segment_chunks=SEG)
    cur = early.cursor(base)
    before = [cur.advance() for _ in range(150)]
    early.schedule(change_at, new)  # learned while running, before its time
    after = [cur.advance() for _ in range(250)]
    played = before + after

    late = Score(FOCUS, 1001, segment_chunks=SEG)
    late.schedule(change_at, new)  # knows the timeline when it starts, after the change
    joined = walk(late, base + 300, 100)
    assert notes(joined[1:]) == notes(played[301:])
    assert joined[-1].params == new and played[199].params == FOCUS
    switch = next(c.index for c in played if c.params == new)
    # from the first beat at or after the change time (at most one beat at the old tempo)
    assert base + 200 <= switch <= base + 200 + math.ceil(60 / FOCUS.bpm / CHUNK_SECONDS)
    assert any(e.kind == "tempo" and e.bpm == 80 for c in played for e in c.events)
    # a change in a later segment is that segment's initial parameters
    assert early.params_at(chunk_time(base + SEG)) == new


def test_a_change_learned_late_is_spliced_in_and_then_matches_everyone() -> None:
    base = 42 * SEG
    new = FOCUS.with_changes(mode="phrygian", key=64)
    change_at = chunk_time(base + 100)

    behind = Score(FOCUS, 9, segment_chunks=SEG)
    cur = behind.cursor(base)
    for _ in range(200):  # already past the change time
        cur.advance()
    behind.schedule(change_at, new)
    spliced = [cur.advance() for _ in range(150)]

    knew = Score(FOCUS, 9, segment_chunks=SEG)
    knew.schedule(change_at, new)
    reference = walk(knew, base, 350)
    assert notes(spliced[1:]) == notes(reference[201:])
    assert spliced[0].params == reference[200].params == new
    # the splice leaves exactly the reference's notes sounding
    assert cur.sounding.keys() == knew.cursor(base + 350).sounding.keys()


def test_forgetting_old_changes_keeps_the_music() -> None:
    base = 7 * SEG
    score = Score(FOCUS, 3, segment_chunks=SEG)
    for i in range(40):  # many changes in the previous segment, two in this one
        score.schedule(chunk_time(base - SEG + 10 * i), FOCUS.with_changes(bpm=40 + i))
    score.schedule(chunk_time(base + 100), FOCUS.with_changes(mode="lydian"))
    score.schedule(chunk_time(base + 200), FOCUS.with_changes(bpm=90))
    reference = walk(score, base, 300)
    serial = score.serial
    score.forget_before(chunk_time(base))
    assert len(score.changes) == 3 and score.serial == serial
    assert score.params_at(chunk_time(base)) == FOCUS.with_changes(bpm=79)
    assert notes(walk(score, base, 300)) == notes(reference)


def test_bad_changes_are_refused_and_nothing_is_added() -> None:
    score = Score(FOCUS, 1)
    with pytest.raises(TypeError):
        score.schedule(10.0, {"bpm": 50})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        score.schedule(math.inf, FOCUS)
    assert score.changes == () and score.serial == 0
    with pytest.raises(ValueError):
        Score(FOCUS, 1, segment_chunks=5)
    with pytest.raises(ValueError):
        Score(FOCUS, True)  # type: ignore[arg-type]
