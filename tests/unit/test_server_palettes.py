"""The palette parameter through the server (TestClient, real engine and FluidR3): served in
/api/music, validated on the query, in update_params and on HTTP, and palettes the SoundFont
cannot play refused by name while the others play."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from auralis.music.palettes import PALETTES
from auralis.server.app import create_app
from auralis.server.settings import Settings


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _next(ws, kind: str, limit: int = 300) -> dict:
    for _ in range(limit):
        msg = ws.receive_json()
        if msg["type"] == kind:
            return msg
    raise AssertionError(f"no {kind} message")


def _client(soundfont_path: Path) -> TestClient:
    return TestClient(create_app(Settings(soundfont=soundfont_path, param_debounce_ms=50)))


def test_palette_served_validated_and_applied(soundfont_path: Path) -> None:
    with _client(soundfont_path) as c:
        _wait(lambda: c.get("/api/status").json()["soundfont_loaded"])
        facts = c.get("/api/music").json()
        assert [p["name"] for p in facts["palettes"]] == list(PALETTES)
        # an unknown palette on the query: close 1008 naming it
        with c.websocket_connect("/ws/stream?palette=nope") as ws:
            close = ws.receive()
        assert close["code"] == 1008 and close["reason"].startswith("palette must be one of")
        r = c.get("/stream.ogg?palette=nope")
        assert r.status_code == 422 and r.json()["field"] == "palette"
        with c.websocket_connect("/ws/stream?seed=3&palette=glass") as ws:
            _next(ws, "audio")
            ws.send_json({"type": "update_params", "params": {"palette": "nope", "bpm": 50}})
            err = _next(ws, "error")
            assert err["code"] == "INVALID_MESSAGE" and err["message"].startswith("palette must be one of")
            ws.send_json({"type": "update_params", "params": {"palette": "choir"}})
            ack = _next(ws, "params")
            assert ack["params"]["palette"] == "choir" and ack["params"]["bpm"] == 60.0
            ws.send_json({"type": "select_preset", "preset": "sleep"})
            ack = _next(ws, "params")
            assert ack["preset"] == "sleep" and ack["params"]["palette"] == "sleep"
            _next(ws, "audio")


def test_palette_lacking_a_program_refused_others_play(
    soundfont_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    import auralis.audio.soundfont as sf

    real = sf.FluidSynth.presets
    monkeypatch.setattr(sf.FluidSynth, "presets", lambda self, sid: [p for p in real(self, sid) if p[:2] != (0, 14)])
    sf.bank0_programs.cache_clear()
    request.addfinalizer(sf.bank0_programs.cache_clear)
    with _client(soundfont_path) as c:
        _wait(lambda: c.get("/api/status").json()["soundfont_loaded"])
        with c.websocket_connect("/ws/stream?preset=meditation") as ws:
            err = _next(ws, "error")
            assert err["code"] == "INVALID_MESSAGE" and "palette 'meditation'" in err["message"]
            assert "program 14 (Tubular Bells)" in err["message"]
            while (msg := ws.receive())["type"] != "websocket.close":
                pass
            assert msg["code"] == 1008 and "palette" in msg["reason"]
        r = c.get("/stream.ogg?palette=choir")
        assert r.status_code == 422 and r.json()["field"] == "palette"
        with c.websocket_connect("/ws/stream?preset=sleep&seed=2") as ws:
            _next(ws, "audio")
            ws.send_json({"type": "select_preset", "preset": "meditation"})
            err = _next(ws, "error")
            assert err["code"] == "INVALID_MESSAGE" and "palette 'meditation'" in err["message"]
            ws.send_json({"type": "update_params", "params": {"palette": "choir"}})
            err = _next(ws, "error")
            assert err["recoverable"] is True and "palette 'choir'" in err["message"]
            seqs = [_next(ws, "audio")["seq"] for _ in range(5)]
            assert seqs == list(range(seqs[0], seqs[0] + 5))  # the audio goes on
