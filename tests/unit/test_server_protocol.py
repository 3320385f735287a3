"""Wire format of websocket-protocol.md: query and message validation, server frames."""

from __future__ import annotations

import json
import time

import pytest

from auralis.music.params import MusicParams
from auralis.server import protocol as P


# --- query parameters ----------------------------------------------------------------------


def test_query_defaults():
    r = P.parse_stream_query({})
    assert r.params == MusicParams(key=60, mode="aeolian", bpm=60.0, intensity=0.5)
    assert r.preset is None and r.seed is None


def test_query_values_and_preset_keeps_key():
    r = P.parse_stream_query({"key": "62", "preset": "focus", "seed": "42", "format": "json"})
    assert r.params.as_dict() == {"key": 62, "mode": "dorian", "bpm": 60.0, "intensity": 0.5, "palette": "focus"}
    assert (r.preset, r.seed) == ("focus", 42)


def test_query_explicit_values_win_over_the_preset():
    r = P.parse_stream_query({"preset": "sleep", "bpm": "45"})
    assert r.params.bpm == 45.0 and r.params.mode == "phrygian"
    assert r.preset is None  # no longer the preset's values


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"key": "59"}, "key"),
        ({"key": "C"}, "key"),
        ({"key": "60.5"}, "key"),
        ({"mode": "locrianx"}, "mode"),
        ({"bpm": "91"}, "bpm"),
        ({"bpm": "nan"}, "bpm"),
        ({"bpm": "fast"}, "bpm"),
        ({"intensity": "1.5"}, "intensity"),
        ({"intensity": "-0.1"}, "intensity"),
        ({"preset": "party"}, "preset"),
        ({"seed": "abc"}, "seed"),
        ({"seed": "-1"}, "seed"),
        ({"seed": str(2**63)}, "seed"),
        ({"format": "binary"}, "format"),
    ],
)
def test_invalid_query_names_the_parameter(query: dict, field: str):
    with pytest.raises(P.ProtocolError) as info:
        P.parse_stream_query(query)
    assert info.value.field == field
    assert field in str(info.value)


# --- client messages -------------------------------------------------------------------------


def test_update_params_partial():
    msg = P.parse_client_message(json.dumps({"type": "update_params", "params": {"bpm": 70}, "timestamp": 1.0}))
    assert msg == P.UpdateParams(changes={"bpm": 70})


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"key": 62, "bpm": 200}, "bpm"),
        ({"key": 72}, "key"),
        ({"mode": "nope"}, "mode"),
        ({"intensity": "loud"}, "intensity"),
        ({"bpm": True}, "bpm"),
        ({"tempo": 60}, "tempo"),
    ],
)
def test_update_params_rejected_whole_naming_the_field(params: dict, field: str):
    with pytest.raises(P.ProtocolError) as info:
        P.parse_client_message(json.dumps({"type": "update_params", "params": params}))
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("not json", "JSON"),
        ("[1, 2]", "object"),
        ('"ping"', "object"),
        ("{}", "type"),
        ('{"type": 5}', "type"),
        ('{"type": "dance"}', "unknown message type"),
        ('{"type": "update_params"}', "params"),
        ('{"type": "update_params", "params": [1]}', "params"),
        ('{"type": "select_preset", "preset": "party"}', "preset"),
        ('{"type": "select_preset"}', "preset"),
        ('{"type": "ping"}', "timestamp"),
        ('{"type": "ping", "timestamp": "now"}', "timestamp"),
        ('{"type": "ping", "timestamp": 1, "rtt_ms": -3}', "rtt_ms"),
        ('{"type": "telemetry", "played_seq": -1, "played_at": 1}', "played_seq"),
        ('{"type": "telemetry", "played_seq": 3}', "played_at"),
        ('{"type": "telemetry", "underruns": 1.5}', "underruns"),
        ('{"type": "telemetry", "buffered_ms": -1}', "buffered_ms"),
    ],
)
def test_malformed_messages(text: str, words: str):
    with pytest.raises(P.ProtocolError) as info:
        P.parse_client_message(text)
    assert words in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        # found by the fuzzer (tests/integration/test_reliability_fuzz.py): integers too large for a
        # float raised OverflowError, which ended the listener's connection
        json.dumps({"type": "ping", "timestamp": 1.0, "rtt_ms": 10**400}),
        json.dumps({"type": "telemetry", "underruns": 10**400}),
        json.dumps({"type": "update_params", "params": {"bpm": -(10**30)}}),
        json.dumps({"type": "update_params", "params": {"key": 10**20}}),
    ],
)
def test_huge_integers_are_invalid_messages_not_crashes(text: str):
    with pytest.raises(P.ProtocolError, match="out of range"):
        P.parse_client_message(text)


def test_huge_integer_query_values_name_the_parameter():
    for name in ("key", "seed"):
        with pytest.raises(P.ProtocolError) as info:
            P.parse_stream_query({name: "1" * 400})
        assert info.value.field == name


def test_size_limit_is_4_kib_in_bytes():
    base = '{"type":"ping","timestamp":1,"pad":"'
    fits = base + "x" * (4096 - len(base) - 2) + '"}'
    assert len(fits.encode()) == 4096
    assert isinstance(P.parse_client_message(fits), P.Ping)
    with pytest.raises(P.ProtocolError, match="4096"):
        P.parse_client_message(base + "x" * (4097 - len(base) - 2) + '"}')
    multibyte = base + "é" * 2100 + '"}'  # under 4096 characters, over 4096 bytes
    with pytest.raises(P.ProtocolError, match="4096"):
        P.parse_client_message(multibyte)


def test_binary_frames_are_refused():
    with pytest.raises(P.ProtocolError, match="binary"):
        P.parse_client_message(b'{"type": "ping"}')


def test_telemetry_and_ping_parse():
    t = P.parse_client_message(
        '{"type":"telemetry","played_seq":400,"played_at":1764107440.61,"buffered_ms":240.0,'
        '"underruns":0,"timestamp":1764107440.62}'
    )
    assert t == P.Telemetry(400, 1764107440.61, 240.0, 0, 1764107440.62)
    assert P.parse_client_message('{"type":"ping","timestamp":5,"rtt_ms":12.5}') == P.Ping(5.0, 12.5)


# --- server frames -----------------------------------------------------------------------------


def test_now_frame_fields():
    msg = json.loads(P.now_message(412, "D min7", 3, MusicParams(key=62, mode="dorian")))
    assert set(msg) == {"type", "seq", "chord", "section", "params", "timestamp"}
    assert (msg["type"], msg["seq"], msg["chord"], msg["section"]) == ("now", 412, "D min7", 3)
    assert msg["params"] == {"key": 62, "mode": "dorian", "bpm": 60.0, "intensity": 0.5, "palette": "classic"}
    assert msg["timestamp"] == pytest.approx(time.time(), abs=5)


def test_formats_are_accepted_and_unknown_ones_named():
    for fmt in ("json", "pcm", "opus"):
        assert P.parse_stream_query({"format": fmt}).format == fmt
    assert P.parse_stream_query({}).format == "json"
    with pytest.raises(P.ProtocolError, match="format must be one of json, pcm, opus") as info:
        P.parse_stream_query({"format": "mp3"})
    assert info.value.field == "format"


def test_control_frames():
    assert json.loads(P.pong_message(1.5, 2.5)) == {"type": "pong", "client_timestamp": 1.5, "server_timestamp": 2.5}
    err = json.loads(P.error_message("INVALID_MESSAGE", "bpm must be between 40 and 90", recoverable=True))
    assert err["code"] == "INVALID_MESSAGE" and err["recoverable"] is True and isinstance(err["timestamp"], float)
    prm = json.loads(P.params_message(MusicParams(key=62, mode="dorian"), "focus", 412))
    assert prm["params"] == {"key": 62, "mode": "dorian", "bpm": 60.0, "intensity": 0.5, "palette": "classic"}
    assert (prm["preset"], prm["effective_seq"], prm["type"]) == ("focus", 412, "params")
    st = json.loads(P.status_message("connected", "Audio streaming started", 3))
    assert st["state"] == "connected" and st["buffer_depth"] == 3
    with pytest.raises(ValueError):
        P.error_message("OOPS", "x", recoverable=True)
    with pytest.raises(ValueError):
        P.status_message("sleeping", "x", 0)


def test_reauth_parses_and_keeps_the_token_out_of_repr():
    msg = P.parse_client_message('{"type":"reauth","token":" abc.def.ghi "}')
    assert msg == P.Reauth(token="abc.def.ghi")
    assert "abc" not in repr(msg)
    for bad in ('{"type":"reauth"}', '{"type":"reauth","token":""}', '{"type":"reauth","token":5}'):
        with pytest.raises(P.ProtocolError) as exc:
            P.parse_client_message(bad)
        assert exc.value.field == "token"


def test_auth_message():
    msg = json.loads(P.auth_message(1764107999.0))
    assert msg["type"] == "auth" and msg["expires_at"] == 1764107999.0 and msg["timestamp"] > 0



def test_station_query_excludes_the_personal_parameters() -> None:
    from auralis.server.protocol import PERSONAL_ONLY, ProtocolError, parse_stream_query

    req = parse_stream_query({"station": "focus", "format": "opus"})
    assert (req.station, req.format) == ("focus", "opus")
    for name in PERSONAL_ONLY:
        try:
            parse_stream_query({"station": "focus", name: "1"})
        except ProtocolError as exc:
            assert exc.field == name and str(exc).startswith(name)
        else:
            raise AssertionError(f"{name} accepted with station")
