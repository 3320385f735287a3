"""Station changes relayed through Redis (auralis.server.station_relay): what a message must be,
once-only application, and nothing half-applied from a bad one. The Redis side runs against a
real redis-server in tests/integration/test_cluster.py."""

from __future__ import annotations

import json

import pytest

from auralis.server.station_relay import BadChange, StationRelay, parse_change

GOOD = {"v": 1, "id": "c1", "origin": "a", "station": "focus", "at": 1234.5,
        "params": {"key": 62, "mode": "dorian", "bpm": 60.0, "intensity": 0.5}}


def message(**changes) -> str:
    return json.dumps({**GOOD, **changes})


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "version 1"),
        (message(v=2), "version 1"),
        (message(id=""), "id"),
        (message(station=7), "station"),
        (message(origin=None), "origin"),
        (message(at="soon"), "at must be"),
        (message(at=True), "at must be"),
        ('{"v": 1, "id": "x", "origin": "a", "station": "s", "at": NaN, "params": {}}', "at must be"),
        (message(params=[1]), "params"),
        (b"x" * 5000, "4 KiB"),
    ],
)
def test_bad_messages_are_named(raw, why):
    with pytest.raises(BadChange, match=why):
        parse_change(raw)


class Recorder:
    def __init__(self, fail: Exception | None = None):
        self.calls: list[tuple] = []
        self.fail = fail

    def __call__(self, station, params, at):
        if self.fail is not None:
            raise self.fail
        self.calls.append((station, params, at))


def relay(apply) -> StationRelay:
    return StationRelay(link=None, instance_id="b", apply=apply)  # type: ignore[arg-type]


def test_a_change_applies_once_however_often_it_is_heard():
    rec = Recorder()
    r = relay(rec)
    assert r.receive(message().encode()) is True
    assert r.receive(message()) is False  # the log and the channel both carry it
    assert rec.calls == [("focus", GOOD["params"], 1234.5)] and r.applied == 1


def test_a_change_the_station_refuses_is_dropped_and_logged(caplog):
    r = relay(Recorder(fail=ValueError("bpm must be between 40 and 90")))
    assert r.receive(message(id="c2")) is False
    assert r.rejected == 1 and "bpm must be between 40 and 90" in caplog.text
    assert relay(Recorder()).receive(b"\xff\xfe garbage") is False


def test_apply_change_validates_before_touching_the_station():
    """StationService.apply_change: all four fields, valid values, known station; else nothing."""
    from auralis.music.params import MusicParams
    from auralis.server.stations import StationService
    from auralis.streaming.stations import UnknownStation

    scheduled = []
    station = type("S", (), {"params": MusicParams(), "set_params": lambda self, p, at=None: scheduled.append((p, at))})()
    service = StationService.__new__(StationService)
    service.hub = type("H", (), {"__getitem__": lambda self, n: station if n == "focus" else (_ for _ in ()).throw(UnknownStation(n))})()
    with pytest.raises(ValueError, match="lacks 'intensity'"):
        service.apply_change("focus", {"key": 60, "mode": "dorian", "bpm": 60}, 10.0)
    with pytest.raises(ValueError, match="bpm"):
        service.apply_change("focus", {**GOOD["params"], "bpm": 300}, 10.0)
    with pytest.raises(ValueError, match="unknown parameter"):
        service.apply_change("focus", {**GOOD["params"], "tempo": 1}, 10.0)
    with pytest.raises(KeyError):
        service.apply_change("nope", GOOD["params"], 10.0)
    assert scheduled == []
    service.apply_change("focus", GOOD["params"], 10.0)
    assert scheduled == [(MusicParams(key=62, mode="dorian", bpm=60.0, intensity=0.5), 10.0)]
