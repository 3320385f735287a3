"""GET /health and the balancer's 503 for listeners of an instance that cannot render
(auralis.server.health), on a small app with a stand-in hub."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse
from starlette.testclient import WebSocketDenialResponse

from auralis.server.health import RefuseWhenUnhealthy, health_report, health_router, readiness


class FakeHub:
    def __init__(self, *, loaded=True, error=None, stopping=False, stations_error=None):
        self.load_error = error
        self.stopping = stopping
        self.engine = object() if loaded and error is None else None
        self.stations = SimpleNamespace(error=stations_error, hub=None if stations_error else object())

    def soundfont_loaded(self) -> bool:
        return self.engine is not None


class FakeCluster:
    def __init__(self, state: str):
        self.state = state

    def health(self) -> dict:
        return {"redis": self.state, "redis_since": 1.0, "redis_error": None, "instances": ["a", "b"], "relay": "idle"}


@pytest.mark.parametrize(
    ("hub", "state"),
    [
        (FakeHub(), "ready"),
        (FakeHub(loaded=False), "starting"),
        (FakeHub(error="no such file: /x.sf2"), "failed"),
        (FakeHub(stopping=True), "stopping"),
    ],
)
def test_readiness(hub, state):
    assert readiness(hub) == state


def test_health_tells_the_truth():
    code, body = health_report(FakeHub(), "a", None, lambda: 3)
    assert code == 200 and body["status"] == "ok" and body["redis"] == "disabled" and body["listeners"] == 3
    code, body = health_report(FakeHub(error="bad sf2"), "a", None, lambda: 0)
    assert code == 503 and body["status"] == "failed" and body["soundfont_error"] == "bad sf2"
    code, body = health_report(FakeHub(), "a", FakeCluster("unreachable"), lambda: 0)
    assert code == 200 and body["status"] == "degraded" and body["redis"] == "unreachable"
    code, body = health_report(FakeHub(), "a", FakeCluster("connected"), lambda: 0)
    assert code == 200 and body["status"] == "ok" and body["instances"] == ["a", "b"]
    # stations failing on their own: personal streams still play, so still 200, saying so
    code, body = health_report(FakeHub(stations_error="boom"), "a", None, lambda: 0)
    assert code == 200 and body["stations"] == "failed"


def small_app(hub: FakeHub) -> FastAPI:
    app = FastAPI()
    app.include_router(health_router(hub, "node-1", None, lambda: 0))

    @app.get("/stream/focus.ogg")
    async def stream() -> PlainTextResponse:
        return PlainTextResponse("audio")

    @app.get("/api/stations")
    async def listing() -> PlainTextResponse:
        return PlainTextResponse("[]")

    @app.websocket("/ws/stream")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text("playing")
        await socket.close()

    app.add_middleware(RefuseWhenUnhealthy, hub=hub)
    return app


def test_a_failed_instance_refuses_listeners_with_503_and_serves_the_rest():
    client = TestClient(small_app(FakeHub(error="bad sf2")))
    r = client.get("/stream/focus.ogg")
    assert r.status_code == 503 and r.headers["retry-after"] == "5" and "cannot render (failed)" in r.json()["detail"]
    with pytest.raises(WebSocketDenialResponse) as denied:
        with client.websocket_connect("/ws/stream"):
            pass
    assert denied.value.status_code == 503 and denied.value.headers["retry-after"] == "5"
    assert client.get("/api/stations").status_code == 200  # not a listener: answered
    r = client.get("/health")
    assert r.status_code == 503 and r.json()["status"] == "failed" and r.headers["cache-control"] == "no-store"


def test_a_ready_instance_lets_listeners_through():
    client = TestClient(small_app(FakeHub()))
    assert client.get("/stream/focus.ogg").text == "audio"
    with client.websocket_connect("/ws/stream") as ws:
        assert ws.receive_text() == "playing"
    assert client.get("/health").json()["status"] == "ok"
