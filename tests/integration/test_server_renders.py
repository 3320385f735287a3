"""Downloads on a real server: a listener's timeline (GET /api/sessions/{id}/timeline), renders
(POST /api/renders, progress, the file as an attachment) checked against the audio the listener
was sent, and every bad render request (422/413/404 naming the field, 429 over the rate)."""

from __future__ import annotations

import asyncio
import io
import json
import time
import wave
from typing import Any

import httpx
import mido
import pytest

from auralis.streaming import frames as F
from tests.support.reliability import connect
from tests.support.server import ServerProcess, running_server

RATE = 4  # renders per minute per client address on this server


@pytest.fixture(scope="module")
def server() -> ServerProcess:
    with running_server(env={"AURALIS_RENDER_RATE": f"{RATE}/minute"}) as srv:
        yield srv


async def listen_and_change(ws_url: str) -> tuple[str, bytes, int]:
    """Listen (pcm) for 15 s of audio with a change after 6 s; (client_id, pcm received, chunks)."""
    pcm = bytearray()
    n = 0
    client_id = None
    async with await connect(ws_url, "?seed=31337&format=pcm&preset=sleep") as ws:
        while n < 150:
            msg = await asyncio.wait_for(ws.recv(), 20)
            if isinstance(msg, bytes):
                frame = F.unpack_frame(msg)
                assert frame.seq == n
                pcm += frame.payload
                n += 1
                if n == 60:
                    await ws.send(json.dumps({"type": "update_params", "params": {"mode": "lydian", "bpm": 66}}))
            else:
                m = json.loads(msg)
                if m["type"] == "status" and m.get("client_id"):
                    client_id = m["client_id"]
        assert client_id
        timeline_live = httpx.get(f"{ws_url.replace('ws', 'http', 1)}/api/sessions/{client_id}/timeline", timeout=5)
        assert timeline_live.status_code == 200
        assert timeline_live.json()["end"] >= n * 0.1 - 1e-9
    return client_id, bytes(pcm), n


def wait_done(srv: ServerProcess, job: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        r = httpx.get(f"{srv.url}{job['url']}", timeout=5)
        assert r.status_code == 200, r.text
        job = r.json()
        seen.append(job["progress"])
        if job["status"] in ("done", "failed"):
            assert job["status"] == "done", job
            assert seen == sorted(seen)  # progress never goes back
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_a_listener_downloads_exactly_what_it_was_sent(server: ServerProcess) -> None:
    client_id, pcm, n = asyncio.run(listen_and_change(server.ws_url))
    # the session ended; its timeline is still there for the page
    r = httpx.get(f"{server.url}/api/sessions/{client_id}/timeline", timeout=5)
    assert r.status_code == 200
    timeline = r.json()
    assert timeline["format"] == "auralis-timeline" and timeline["version"] == 1 and timeline["seed"] == 31337
    assert timeline["params"]["mode"] == "phrygian"
    assert [c["params"]["mode"] for c in timeline["changes"]] == ["lydian"]
    assert 60 <= timeline["changes"][0]["seq"] <= 100
    end = n * 0.1
    r = httpx.post(f"{server.url}/api/renders", json={"timeline": timeline, "seed": 31337, "from": 0, "to": end, "format": "wav"}, timeout=10)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == job["url"] and job["status"] in ("queued", "running")
    job = wait_done(server, job)
    f = httpx.get(f"{server.url}{job['file']}", timeout=30)
    assert f.status_code == 200
    assert f.headers["content-type"] == "audio/wav"
    assert f.headers["content-disposition"].startswith("attachment;") and ".wav" in f.headers["content-disposition"]
    with wave.open(io.BytesIO(f.content), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 44100)
        assert w.readframes(w.getnframes()) == pcm  # the same samples the listener was sent

    r = httpx.post(f"{server.url}/api/renders", json={"timeline": timeline, "from": 5, "to": end, "format": "midi"}, timeout=10)
    assert r.status_code == 202, r.text
    job = wait_done(server, r.json())
    mid = mido.MidiFile(file=io.BytesIO(httpx.get(f"{server.url}{job['file']}", timeout=10).content))
    assert any(m.type == "note_on" for m in mid)
    assert any(m.type == "marker" and m.text == "context C lydian" for m in mid)  # the change, in the span


BAD: list[tuple[Any, int, str]] = [
    ("not json", 422, "body"),
    ([], 422, "body"),
    ({"from": 0, "to": 10, "format": "wav"}, 422, "timeline"),
    ({"timeline": "x", "from": 0, "to": 10, "format": "wav"}, 422, "timeline"),
    ({"timeline": {"format": "auralis-timeline", "version": 9, "seed": 1, "params": {}}, "from": 0, "to": 10, "format": "wav"}, 422, "timeline.version"),
    ({"timeline": {"format": "auralis-timeline", "version": 1, "seed": 1, "params": {"bpm": 999}}, "from": 0, "to": 10, "format": "wav"}, 422, "timeline.params.bpm"),
    ({"timeline": None, "from": 0, "to": 1801, "format": "wav"}, 422, "to"),  # timeline filled in below
    ({"timeline": None, "from": 100, "to": 50, "format": "wav"}, 422, "to"),
    ({"timeline": None, "from": -1, "to": 50, "format": "wav"}, 422, "from"),
    ({"timeline": None, "from": "0", "to": 50, "format": "wav"}, 422, "from"),
    ({"timeline": None, "from": 0, "to": 90000, "format": "wav"}, 422, "to"),
    ({"timeline": None, "from": 0, "to": 10, "format": "mp3"}, 422, "format"),
    ({"timeline": None, "from": 0, "to": 10}, 422, "format"),
    ({"timeline": None, "from": 0, "to": 10, "format": "wav", "seed": 2}, 422, "seed"),
    ({"timeline": None, "from": 0, "to": 10, "format": "wav", "colour": 2}, 422, "colour"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD)
def test_bad_render_requests_name_the_field_and_start_nothing(server: ServerProcess, body: Any, status: int, field: str) -> None:
    good = {"format": "auralis-timeline", "version": 1, "seed": 1, "params": {}, "changes": []}
    if isinstance(body, dict) and body.get("timeline", 0) is None:
        body = {**body, "timeline": good}
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    r = httpx.post(f"{server.url}/api/renders", content=content, headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field, r.json()
    assert r.json()["detail"]


def test_oversized_bodies_unknown_ids_and_the_rate_limit(server: ServerProcess) -> None:
    r = httpx.post(f"{server.url}/api/renders", content=b"{" + b" " * (1 << 20) + b"}", timeout=10)
    assert r.status_code == 413 and r.json()["field"] == "body"
    r = httpx.get(f"{server.url}/api/sessions/nobody/timeline", timeout=5)
    assert r.status_code == 404 and r.json()["field"] == "client_id"
    for path in ("/api/renders/nope", "/api/renders/nope/file"):
        r = httpx.get(f"{server.url}{path}", timeout=5)
        assert r.status_code == 404 and r.json()["field"] == "render_id"
    good = {"timeline": {"format": "auralis-timeline", "version": 1, "seed": 1, "params": {}}, "from": 0, "to": 5, "format": "midi"}
    codes = [httpx.post(f"{server.url}/api/renders", json=good, timeout=10).status_code for _ in range(RATE + 1)]
    # the first test used 2 of this minute's renders (the tests share the server and address)
    assert 429 in codes and codes[0] in (202, 429)
    r = httpx.post(f"{server.url}/api/renders", json=good, timeout=10)
    assert r.status_code == 429
    assert r.json() == {"error": "Rate limit exceeded", "retry_after": int(r.headers["retry-after"])}
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # the server still streams while renders run
    status = server.status()
    assert status["soundfont_loaded"] is True
