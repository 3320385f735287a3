"""Tokens expire mid-stream (issue 15, item 5), on a real production-mode server: at the token's
`exp` the stream gets `error UNAUTHORIZED` and close 1008 within 1 s, unless the client presented
a fresh token before then (`reauth`). A refused `reauth` changes nothing. A station listener
holds its token the same way as a personal one."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import websockets

from tests.support.production import HTTPS, SECRET, WRONG_SECRET, auth_headers, make_token, production_env
from tests.support.server import ServerProcess, running_server


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with running_server(env=production_env(), headers=auth_headers()) as srv:
        yield srv


def exp_of(token: str) -> float:
    return float(jwt.decode(token, SECRET, algorithms=["HS256"])["exp"])


async def listen(
    url: str, until: float, actions: dict[float, dict[str, Any]] | None = None
) -> tuple[list[tuple[float, dict]], int | None, str, float | None]:
    """Frames (arrival, message) until Unix time `until` or the close; `actions` sends a message
    at a given Unix time. Returns the frames, the close code and reason, and when it closed."""
    pending = sorted((actions or {}).items())
    frames: list[tuple[float, dict]] = []
    async with websockets.connect(url, compression=None, open_timeout=20, additional_headers=HTTPS) as ws:
        try:
            while time.time() < until:
                if pending and time.time() >= pending[0][0]:
                    await ws.send(json.dumps(pending.pop(0)[1]))
                wake = min([until] + [t for t, _ in pending[:1]])
                try:
                    frame = await asyncio.wait_for(ws.recv(), max(0.01, wake - time.time()))
                except TimeoutError:
                    continue
                msg = json.loads(frame)
                if msg["type"] == "audio":
                    msg = {"type": "audio", "seq": msg["seq"]}
                frames.append((time.time(), msg))
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            return frames, code, exc.rcvd.reason if exc.rcvd else "", time.time()
    return frames, None, "", None


def of(frames: list[tuple[float, dict]], kind: str) -> list[tuple[float, dict]]:
    return [(t, m) for t, m in frames if m["type"] == kind]


#: a personal stream and a station (the same token rules for both)
STREAMS = pytest.mark.parametrize("query", ["", "station=focus&"], ids=["personal", "station"])


@STREAMS
def test_stream_closes_within_a_second_of_exp(server, query):
    token = make_token(exp_in=4)
    exp = exp_of(token)
    frames, code, reason, closed_at = asyncio.run(listen(f"{server.ws_url}/ws/stream?{query}token={token}", exp + 5))
    errors = of(frames, "error")
    audio = of(frames, "audio")
    print(f"\ntoken expiry: error {errors[0][0] - exp:+.3f} s, close {closed_at - exp:+.3f} s after exp" if errors else "")
    assert code == 1008 and "expired" in reason
    assert [m["code"] for _, m in errors] == ["UNAUTHORIZED"] and errors[0][1]["recoverable"] is False
    assert exp <= errors[0][0] <= exp + 1.0 and closed_at <= exp + 1.0
    assert [m["seq"] for _, m in audio] == list(range(len(audio)))  # it played until then
    assert audio[-1][0] >= exp - 0.5 and all(t <= errors[0][0] for t, _ in audio)


@STREAMS
def test_reauth_before_exp_keeps_the_stream(server, query):
    token = make_token(exp_in=3)
    exp = exp_of(token)
    fresh = make_token(exp_in=600)
    actions = {exp - 2: {"type": "reauth", "token": fresh}}
    frames, code, _, _ = asyncio.run(listen(f"{server.ws_url}/ws/stream?{query}token={token}", exp + 2.5, actions))
    assert code is None, frames[-3:]
    auth = of(frames, "auth")
    assert len(auth) == 1 and auth[0][1]["expires_at"] == exp_of(fresh)
    assert of(frames, "error") == []
    audio = of(frames, "audio")
    assert [m["seq"] for _, m in audio] == list(range(len(audio)))
    assert audio[-1][0] >= exp + 2.0  # still streaming two seconds past the first token's exp


def test_refused_reauth_changes_nothing(server):
    token = make_token(exp_in=4)
    exp = exp_of(token)
    actions = {
        exp - 3: {"type": "reauth", "token": make_token(WRONG_SECRET, exp_in=600)},
        exp - 2.5: {"type": "reauth", "token": make_token(exp_in=600, sub="another-listener")},
        exp - 2: {"type": "reauth", "token": make_token(exp_in=-10)},
    }
    frames, code, _, closed_at = asyncio.run(listen(f"{server.ws_url}/ws/stream?token={token}", exp + 5, actions))
    errors = [m for _, m in of(frames, "error")]
    assert [(m["code"], m["recoverable"]) for m in errors] == [("UNAUTHORIZED", True)] * 3 + [("UNAUTHORIZED", False)]
    assert "signature" in errors[0]["message"] and "subject" in errors[1]["message"] and "expired" in errors[2]["message"]
    assert of(frames, "auth") == []
    assert code == 1008 and closed_at <= exp + 1.0  # the first token's expiry still holds
