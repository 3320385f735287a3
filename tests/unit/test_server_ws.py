"""The WebSocket session in-process (TestClient, real engine and SoundFont): faults, debouncing,
refusals, the loading state and the hub's live figures."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from auralis.server.app import create_app
from auralis.server.hub import Hub
from auralis.server.settings import Settings


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def client(soundfont_path: Path):
    app = create_app(Settings(soundfont=soundfont_path, max_connections=3, param_debounce_ms=200))
    with TestClient(app) as c:
        _wait(lambda: c.get("/api/status").json()["soundfont_loaded"])
        yield c


def _next(ws, kind: str, limit: int = 200) -> dict:
    for _ in range(limit):
        msg = ws.receive_json()
        if msg["type"] == kind:
            return msg
    raise AssertionError(f"no {kind} message")


def test_injected_synthesis_fault_ends_only_that_stream(client: TestClient) -> None:
    hub: Hub = client.app.state.hub
    with client.websocket_connect("/ws/stream?seed=1") as a, client.websocket_connect("/ws/stream?seed=2") as b:
        a_id = a.receive_json()["client_id"]
        b.receive_json()
        _next(a, "audio")
        _next(b, "audio")
        victim = next(s for s in hub.sessions if s.client_id == a_id)
        victim.stream.inject_fault(RuntimeError("boom"))
        err = _next(a, "error")
        assert err["code"] == "INTERNAL_ERROR" and err["recoverable"] is False
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                a.receive_json()
        assert closed.value.code == 1011
        seqs = [_next(b, "audio")["seq"] for _ in range(8)]
        assert seqs == list(range(seqs[0], seqs[0] + 8))
        assert client.get("/api/status").json()["synthesis_active"] is True
    _wait(lambda: client.get("/api/status").json()["active_connections"] == 0, 5)


def test_changes_are_debounced_and_all_acknowledged(client: TestClient) -> None:
    with client.websocket_connect("/ws/stream?seed=3&key=67") as ws:
        ws.receive_json()
        _next(ws, "audio")
        ws.send_json({"type": "update_params", "params": {"bpm": 45}})
        ws.send_json({"type": "update_params", "params": {"intensity": 0.9}})
        ws.send_json({"type": "select_preset", "preset": "bright"})
        acks = [_next(ws, "params") for _ in range(3)]
        # one application of the latest values: the preset on top of the earlier changes
        assert all(a == {**acks[0], "timestamp": a["timestamp"]} for a in acks)
        assert acks[0]["params"] == {"key": 67, "mode": "lydian", "bpm": 70.0, "intensity": 0.6, "palette": "bright"}
        assert acks[0]["preset"] == "bright"
        ws.send_json({"type": "update_params", "params": {"key": 69}})
        ack = _next(ws, "params")
        assert ack["preset"] == "bright" and ack["params"]["key"] == 69  # a key change keeps the preset
        ws.send_json({"type": "update_params", "params": {"bpm": 71}})
        assert _next(ws, "params")["preset"] is None


def test_capacity_and_query_refusals(client: TestClient) -> None:
    with client.websocket_connect("/ws/stream?intensity=2") as ws:
        with pytest.raises(WebSocketDisconnect) as refused:
            ws.receive_json()
    assert refused.value.code == 1008 and "intensity" in refused.value.reason
    with client.websocket_connect("/ws/stream") as a, client.websocket_connect("/ws/stream") as b, \
            client.websocket_connect("/ws/stream") as c:
        for ws in (a, b, c):
            assert ws.receive_json()["state"] == "connected"
        assert client.get("/api/status").json()["active_connections"] == 3
        with client.websocket_connect("/ws/stream") as d:
            with pytest.raises(WebSocketDisconnect) as full:
                d.receive_json()
        assert full.value.code == 1013
    _wait(lambda: client.get("/api/status").json()["active_connections"] == 0, 5)


def test_live_figures_follow_the_streams(client: TestClient) -> None:
    before = client.get("/api/metrics").json()
    with client.websocket_connect("/ws/stream?seed=9") as ws:
        ws.receive_json()
        for _ in range(5):
            _next(ws, "audio")
        status = client.get("/api/status").json()
        assert status["active_connections"] == 1 and status["synthesis_active"] is True
        assert 0 <= status["buffer_depth"] <= 3  # lead_chunks
    after = client.get("/api/metrics").json()
    assert after["synthesis_latency_ms"]["samples"] > before["synthesis_latency_ms"]["samples"]
    assert after["synthesis_latency_ms"]["p50"] > 0
    _wait(lambda: client.get("/api/metrics").json()["disconnects"] == before["disconnects"] + 1, 5)
    status = client.get("/api/status").json()
    assert (status["active_connections"], status["buffer_depth"], status["synthesis_active"]) == (0, 0, False)


def test_soundfont_loads_in_the_background(soundfont_path: Path) -> None:
    async def run() -> tuple[bool, float, bool]:
        hub = Hub(Settings(soundfont=soundfont_path))
        started = time.perf_counter()
        hub.start()
        returned = time.perf_counter() - started
        loading = hub.soundfont_loaded()
        ready = await hub.wait_loaded(60)
        await hub.stop()
        return loading, returned, ready

    loading, returned, ready = asyncio.run(run())
    assert loading is False and returned < 0.1
    assert ready is True


def test_soundfont_failure_reaches_listeners(tmp_path: Path) -> None:
    bad = tmp_path / "broken.sf2"
    bad.write_bytes(b"RIFF\x04\x00\x00\x00sfbkjunk")
    with TestClient(create_app(Settings(soundfont=bad))) as c:
        _wait(lambda: c.app.state.hub.load_error is not None, 10)
        assert c.get("/api/status").json()["soundfont_loaded"] is False
        with c.websocket_connect("/ws/stream") as ws:
            err = ws.receive_json()
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
    assert err["code"] == "SOUNDFONT_LOAD_FAILED" and err["recoverable"] is False
    assert str(bad) in err["message"]
    assert closed.value.code == 1011


def _client_underruns(client: TestClient) -> float:
    text = client.get("/metrics").text
    line = next(x for x in text.splitlines() if x.startswith('auralis_buffer_underruns_total{source="client"}'))
    return float(line.split()[-1])


def _handled(ws) -> None:
    """Ping and wait for the pong: every message sent before it has been handled, none refused."""
    ws.send_json({"type": "ping", "timestamp": time.time()})
    for _ in range(200):
        msg = ws.receive_json()
        assert msg["type"] != "error", msg
        if msg["type"] == "pong":
            return
    raise AssertionError("no pong")


def test_client_underruns_count_per_connection_and_cannot_be_inflated(client: TestClient) -> None:
    before = _client_underruns(client)
    with client.websocket_connect("/ws/stream?seed=11") as ws:
        ws.receive_json()
        seqs = [_next(ws, "audio")["seq"] for _ in range(4)]
        tel = {"type": "telemetry", "played_seq": seqs[-1], "played_at": time.time(), "buffered_ms": 100.0}
        ws.send_json({**tel, "underruns": 1})
        ws.send_json({**tel, "underruns": 3})  # cumulative: 2 more
        _handled(ws)
        assert _client_underruns(client) == before + 3
        # a hostile client: huge figures, and "resets" to repeat them
        for n in (10**18, 0, 10**18, 5, 10**18):
            ws.send_json({**tel, "underruns": n})
        _handled(ws)
        sent = next(iter(client.app.state.hub.sessions)).chunks_sent
        counted = _client_underruns(client) - before
        # at most one underrun per chunk sent to this connection
        assert 3 < counted <= sent, (counted, sent)


def test_reauth_without_tokens_is_an_invalid_message(client: TestClient) -> None:
    with client.websocket_connect("/ws/stream?seed=9") as ws:
        ws.receive_json()
        ws.send_json({"type": "reauth", "token": "a.b.c"})
        err = _next(ws, "error")
        assert err["code"] == "INVALID_MESSAGE" and err["recoverable"] is True and "tokens" in err["message"]
        seqs = [_next(ws, "audio")["seq"] for _ in range(3)]
        assert seqs == list(range(seqs[0], seqs[0] + 3))  # the audio goes on


def test_a_one_chunk_render_lead_starts_its_burst_without_a_server_underrun(soundfont_path: Path) -> None:
    """With a render lead (1) shorter than the start burst (3), the burst goes out chunk by chunk
    as each is rendered; the first chunk does not wait for the others, and a burst chunk still
    rendering is no underrun: no `buffering` status, nothing on the server's underrun counter."""
    app = create_app(Settings(soundfont=soundfont_path, lead_chunks=1, start_burst=3))
    with TestClient(app) as c:
        _wait(lambda: c.get("/api/status").json()["soundfont_loaded"])
        with c.websocket_connect("/ws/stream?seed=5") as ws:
            first = ws.receive_json()
            assert first["type"] == "status" and first["state"] == "connected"
            kinds, seqs = [], []
            while len(seqs) < 8:
                msg = ws.receive_json()
                kinds.append((msg["type"], msg.get("state")))
                if msg["type"] == "audio":
                    seqs.append(msg["seq"])
            assert seqs == list(range(8))
            assert ("status", "buffering") not in kinds, kinds
        text = c.get("/metrics").text
        assert 'auralis_buffer_underruns_total{source="server"} 0.0' in text


def test_a_server_underrun_raises_that_streams_render_lead(soundfont_path: Path) -> None:
    app = create_app(Settings(soundfont=soundfont_path, lead_chunks=1, lead_chunks_max=2))
    with TestClient(app) as c:
        _wait(lambda: c.get("/api/status").json()["soundfont_loaded"])
        hub: Hub = c.app.state.hub
        with c.websocket_connect("/ws/stream?seed=6") as ws:
            client_id = ws.receive_json()["client_id"]
            _next(ws, "audio")
            session = next(s for s in hub.sessions if s.client_id == client_id)
            assert session.stream.lead_chunks == 1
            session.starving()  # what the pacer calls when a chunk is due and none is ready
            assert session.stream.lead_chunks == 2
            status = _next(ws, "status")
            assert status["state"] == "buffering"
            session.starving()
            assert session.stream.lead_chunks == 2  # lead_chunks_max
        assert 'auralis_buffer_underruns_total{source="server"} 2.0' in c.get("/metrics").text


@pytest.mark.parametrize(("max_load", "lead"), [(0.5, 1), (0.0, 3)])
def test_a_listener_starts_at_the_short_lead_when_the_render_threads_have_headroom(
    soundfont_path: Path, max_load: float, lead: int
) -> None:
    """An idle server has measured headroom: the first listener's stream starts at
    `lead_chunks_short`; with no load allowed (`lead_short_max_load` 0) at `lead_chunks`. Either
    way the audio starts without a server underrun."""
    app = create_app(Settings(soundfont=soundfont_path, lead_chunks=3, lead_chunks_short=1,
                              lead_short_max_load=max_load))
    with TestClient(app) as c:
        _wait(lambda: c.get("/api/status").json()["soundfont_loaded"])
        hub: Hub = c.app.state.hub
        with c.websocket_connect("/ws/stream?seed=7") as ws:
            client_id = ws.receive_json()["client_id"]
            seqs = [_next(ws, "audio")["seq"] for _ in range(5)]
            assert seqs == list(range(5))
            session = next(s for s in hub.sessions if s.client_id == client_id)
            assert session.stream.lead_chunks == lead
        assert 'auralis_buffer_underruns_total{source="server"} 0.0' in c.get("/metrics").text
