"""The connection gate (auralis.server.security.gate): listener slots and their caps, on a small
app with the real middleware stack. The real server is exercised by
tests/integration/test_reliability_limits.py (slot lock-out from two loopback addresses)."""

from __future__ import annotations

import time

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from auralis.server.security import ListenerSlots, Refusal, Slot, install_security
from auralis.server.security import gate as gate_module
from auralis.server.settings import Settings

SECRET = "s3cret-" + "x" * 40


def token(sub: str = "listener") -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time() + 300)}, SECRET, algorithm="HS256")


# --- slots ---------------------------------------------------------------------------------------


def test_total_cap_and_release():
    slots = ListenerSlots(2)
    a, b = slots.acquire("10.0.0.1"), slots.acquire("10.0.0.2")
    assert isinstance(a, Slot) and isinstance(b, Slot) and slots.open == 2
    refused = slots.acquire("10.0.0.3")
    assert isinstance(refused, Refusal) and refused.cap == "server" and "capacity (2 listeners)" in refused.reason
    a.release()
    a.release()  # idempotent
    assert slots.open == 1 and isinstance(slots.acquire("10.0.0.3"), Slot)


def test_per_address_cap_leaves_other_addresses_alone():
    slots = ListenerSlots(100, per_address=3)
    held = [slots.acquire("10.0.0.1") for _ in range(3)]
    assert all(isinstance(s, Slot) for s in held)
    refused = slots.acquire("10.0.0.1")
    assert isinstance(refused, Refusal) and refused.cap == "address" and "3 at most" in refused.reason
    assert isinstance(slots.acquire("10.0.0.2"), Slot)
    held[0].release()
    assert isinstance(slots.acquire("10.0.0.1"), Slot) and slots.held("10.0.0.1") == 3


def test_per_subject_cap_across_addresses():
    slots = ListenerSlots(100, per_address=10, per_subject=2)
    assert isinstance(slots.acquire("10.0.0.1", "alice"), Slot)
    assert isinstance(slots.acquire("10.0.0.2", "alice"), Slot)
    refused = slots.acquire("10.0.0.3", "alice")
    assert isinstance(refused, Refusal) and refused.cap == "subject" and "token subject" in refused.reason
    assert isinstance(slots.acquire("10.0.0.3", "bob"), Slot)


def test_headroom_kept_for_new_clients():
    slots = ListenerSlots(10, per_address=8, per_subject=8, headroom=3)
    for _ in range(7):
        assert isinstance(slots.acquire("10.0.0.1"), Slot)
    # 7 open = total - headroom: the client that holds some may not take the last 3 slots
    refused = slots.acquire("10.0.0.1")
    assert isinstance(refused, Refusal) and refused.cap == "headroom" and "kept for new clients" in refused.reason
    for address in ("10.0.0.2", "10.0.0.3", "10.0.0.4"):  # new clients still get in
        assert isinstance(slots.acquire(address), Slot)
    assert isinstance(slots.acquire("10.0.0.5"), Refusal)  # then the server is full
    assert ListenerSlots(4, headroom=10).headroom == 3  # never the whole server


# --- the middleware ------------------------------------------------------------------------------


def app_with(settings: Settings) -> FastAPI:
    app = FastAPI()
    install_security(app, settings)

    @app.websocket("/ws/stream")
    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("hello")
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass

    @app.get("/stream/focus.ogg")
    async def http_stream() -> PlainTextResponse:
        return PlainTextResponse("audio")

    return app


def production(**overrides) -> Settings:
    base = {"env": "production", "jwt_secret": SECRET, "allowed_hosts": "testserver",
            "max_listeners_per_address": 2, "max_listeners_per_subject": 3, "listener_headroom": 0}
    return Settings(**{**base, **overrides})


def _refused(client: TestClient, url: str) -> WebSocketDisconnect:
    with client.websocket_connect(url) as ws:
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
    return info.value


def test_websocket_beyond_the_address_cap_closed_1013_naming_it():
    client = TestClient(app_with(production()), base_url="https://testserver")
    url = f"wss://testserver/ws/stream?token={token()}"
    with client.websocket_connect(url) as a, client.websocket_connect(url) as b:
        assert a.receive_text() == b.receive_text() == "hello"
        refused = _refused(client, url)
        assert refused.code == 1013 and "address" in refused.reason and "2 at most" in refused.reason
    with client.websocket_connect(url) as c:  # the slots were given back
        assert c.receive_text() == "hello"


def test_websocket_beyond_the_subject_cap_closed_1013_naming_it():
    client = TestClient(app_with(production(max_listeners_per_address=10)), base_url="https://testserver")
    alice = f"wss://testserver/ws/stream?token={token('alice')}"
    with client.websocket_connect(alice) as a, client.websocket_connect(alice) as b, \
            client.websocket_connect(alice) as c:
        assert {a.receive_text(), b.receive_text(), c.receive_text()} == {"hello"}
        refused = _refused(client, alice)
        assert refused.code == 1013 and "token subject" in refused.reason
        with client.websocket_connect(f"wss://testserver/ws/stream?token={token('bob')}") as d:
            assert d.receive_text() == "hello"


def test_development_has_the_total_cap_only():
    client = TestClient(app_with(Settings(max_connections=3)))
    with client.websocket_connect("/ws/stream") as a, client.websocket_connect("/ws/stream") as b, \
            client.websocket_connect("/ws/stream") as c:
        assert {a.receive_text(), b.receive_text(), c.receive_text()} == {"hello"}
        refused = _refused(client, "/ws/stream")
        assert refused.code == 1013 and "capacity (3 listeners)" in refused.reason


def test_http_listener_refused_503_with_retry_after(monkeypatch):
    monkeypatch.setattr(gate_module, "LISTENER_HTTP_PREFIXES", ("/stream/",))
    app = app_with(Settings(max_connections=1))
    slots: ListenerSlots = app.state.listener_slots
    holder = slots.acquire("somebody")  # the one slot is taken (a WebSocket listener, say)
    client = TestClient(app)
    r = client.get("/stream/focus.ogg")
    assert r.status_code == 503 and r.headers["retry-after"] == "10"
    body = r.json()
    assert body["cap"] == "server" and "capacity" in body["detail"] and body["retry_after"] == 10
    holder.release()
    assert client.get("/stream/focus.ogg").text == "audio"
    assert slots.open == 0  # the HTTP listener gave its slot back when its response ended


def test_refusal_reasons_fit_a_close_frame():
    """Every cap's reason, with 5-digit figures, within a close frame's 123 bytes."""
    full = ListenerSlots(10_000)
    for _ in range(10_000):
        full.acquire(f"a{_}")
    busy = ListenerSlots(10_000, per_address=1, per_subject=1, headroom=9_999)
    busy.acquire("a", "s")
    reasons = [
        full.acquire("new").reason,
        busy.acquire("a").reason,  # address
        busy.acquire("b", "s").reason,  # subject
        ListenerSlots(10_000, per_address=10, headroom=9_999).acquire("x") and "",
    ]
    headroom = ListenerSlots(10_000, per_address=10, headroom=9_999)
    headroom.acquire("x")
    reasons[3] = headroom.acquire("x").reason
    assert [r.split(" ")[0] for r in reasons] == ["server", "too", "too", "server"]
    assert all(len(r.encode()) <= 123 for r in reasons), reasons


def test_cluster_cap_counts_the_other_instances_and_lapses_without_them():
    slots = ListenerSlots(10)
    elsewhere: list[int | None] = [3]
    slots.share(5, lambda: elsewhere[0])
    held = [slots.acquire(f"10.0.0.{i}") for i in range(2)]
    assert all(isinstance(s, Slot) for s in held)  # 2 here + 3 elsewhere = the cluster's 5
    refused = slots.acquire("10.0.0.9")
    assert isinstance(refused, Refusal) and refused.cap == "cluster" and "cluster at capacity (5" in refused.reason
    assert slots.open == 2  # nothing taken by the refusal
    elsewhere[0] = None  # Redis unreachable: only this instance's own cap holds
    assert isinstance(slots.acquire("10.0.0.9"), Slot)
    elsewhere[0] = 1
    held[0].release()  # 2 here (10.0.0.1, 10.0.0.9) + 1 elsewhere
    assert isinstance(slots.acquire("10.0.0.8"), Slot)  # 4
    assert isinstance(slots.acquire("10.0.0.7"), Slot)  # 5
    assert isinstance(slots.acquire("10.0.0.6"), Refusal)
