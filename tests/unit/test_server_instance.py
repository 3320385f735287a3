"""X-Auralis-Instance on every response and WebSocket handshake (auralis.server.instance)."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse

from auralis.server.instance import HEADER, InstanceHeaderMiddleware
from auralis.server.settings import Settings


def small_app() -> FastAPI:
    app = FastAPI()

    @app.get("/x")
    async def x() -> PlainTextResponse:
        return PlainTextResponse("x", headers={HEADER: "spoofed"})

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text("hi")
        await socket.close()

    app.add_middleware(InstanceHeaderMiddleware, instance_id="node-a:8001")
    return app


def test_http_responses_and_404s_name_the_instance_once():
    client = TestClient(small_app())
    r = client.get("/x")
    assert r.headers.get_list(HEADER) == ["node-a:8001"]  # the app's own value is replaced
    assert client.get("/nothing-here").headers[HEADER] == "node-a:8001"


def test_websocket_handshake_names_the_instance():
    client = TestClient(small_app())
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "hi"
    # the accept message as the server gets it: the app's headers kept, the instance's added
    seen = []

    async def app(scope, receive, send):  # what the middleware sends on accept
        await receive()
        await send({"type": "websocket.accept", "headers": [(b"x-other", b"1")]})
        await send({"type": "websocket.close", "code": 1000})

    async def capture(message):
        seen.append(message)

    async def run():
        messages = iter([{"type": "websocket.connect"}])

        async def receive():
            return next(messages)

        await InstanceHeaderMiddleware(app, instance_id="b")({"type": "websocket", "path": "/ws"}, receive, capture)

    asyncio.run(run())
    assert seen[0]["headers"] == [(b"x-other", b"1"), (b"x-auralis-instance", b"b")]


@pytest.mark.parametrize("value", ["", "a b", "x" * 65, "bad\nid", "ü"])
def test_instance_id_setting_refuses_what_cannot_be_a_header(value):
    with pytest.raises(ValueError, match="AURALIS_INSTANCE_ID"):
        Settings(instance_id=value)


def test_instance_id_defaults_to_host_and_port():
    iid = Settings(port=8123).resolved_instance_id()
    assert iid.endswith(":8123") and len(iid) <= 64
    assert Settings(instance_id="web-1").resolved_instance_id() == "web-1"


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "memory://"])
def test_redis_url_must_be_redis(url):
    with pytest.raises(ValueError, match="AURALIS_REDIS_URL"):
        Settings(redis_url=url)
    assert Settings(redis_url="").redis_url is None
