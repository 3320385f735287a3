"""Operator changes relayed between workers through an append-only file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auralis.music.params import MusicParams
from auralis.server.worker_relay import StationRelay


@dataclass
class Change:
    time: float
    params: MusicParams


class FakeStations:
    def __init__(self) -> None:
        self.applied: list[tuple[str, MusicParams, float]] = []

    def set_params(self, name: str, params: MusicParams, at: float) -> None:
        self.applied.append((name, params, at))


def test_a_change_reaches_the_other_workers_once_at_its_station_time(tmp_path: Path) -> None:
    a, b, c = StationRelay(tmp_path, 0), StationRelay(tmp_path, 1), StationRelay(tmp_path, 2)
    params = MusicParams(key=62, mode="dorian", bpm=55.0, intensity=0.4)
    a.announce("focus", Change(1234.5, params))
    on_a, on_b = FakeStations(), FakeStations()
    assert a.apply_new(on_a) == 0 and on_a.applied == []  # its own change is applied already
    assert b.apply_new(on_b) == 1 and on_b.applied == [("focus", params, 1234.5)]
    assert b.apply_new(on_b) == 0  # once
    b.announce("sleep", Change(2000.0, MusicParams(bpm=40.0)))
    later = FakeStations()
    assert c.apply_new(later) == 2  # a worker started later applies every change, in order
    assert [(n, t) for n, _, t in later.applied] == [("focus", 1234.5), ("sleep", 2000.0)]


def test_a_half_written_line_waits_and_a_bad_line_is_skipped(tmp_path: Path) -> None:
    relay, reader = StationRelay(tmp_path, 0), StationRelay(tmp_path, 1)
    path = tmp_path / "station-changes.jsonl"
    path.write_bytes(b'{"worker":0,"station":"focus","time":1.0,"params":{"bpm":999}}\n{"worker":0,"sta')
    stations = FakeStations()
    assert reader.apply_new(stations) == 0  # bpm 999 is invalid: skipped; the half line waits
    with open(path, "ab") as f:
        f.write(b'tion":"focus","time":2.0,"params":{"bpm":50.0}}\n')
    assert reader.apply_new(stations) == 1
    assert stations.applied[0][1].bpm == 50.0 and stations.applied[0][2] == 2.0
    relay.announce("focus", Change(3.0, MusicParams()))
    assert reader.apply_new(stations) == 1
