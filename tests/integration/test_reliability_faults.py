"""Faults on real servers: a bad SoundFont at startup, an exception injected into one stream's
synthesis, and the server killed (SIGKILL) and restarted under a reconnecting client.

The browser's own reconnect after a restart is tested in Chromium by
tests/browser/test_page_recovery.py."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

from tests.support.reliability import StreamLog, connect, fault_one_of, read_until
from tests.support.server import REPO_ROOT, free_port, running_server

pytestmark = pytest.mark.slow


def _bad_soundfonts(tmp: Path) -> dict[str, Path]:
    corrupt = tmp / "corrupt.sf2"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00sfbk" + os.urandom(4096))
    wav = tmp / "not-a-soundfont.sf2"
    wav.write_bytes(b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00D\xac\x00\x00" + bytes(64))
    text = tmp / "notes.sf2"
    text.write_text("this is not a SoundFont\n")
    return {"missing": tmp / "no-such-file.sf2", "corrupt": corrupt, "wav": wav, "text": text}


async def _first_until_close(url: str) -> tuple[list[dict], int | None, str]:
    log = StreamLog()
    async with await connect(url, "?seed=1") as ws:
        await read_until(ws, log, time.monotonic() + 30)
    return log.errors + log.statuses, log.close_code, log.close_reason


@pytest.mark.parametrize("case", ["missing", "corrupt", "wav", "text"])
def test_bad_soundfont_keeps_http_up_and_tells_listeners(tmp_path, case):
    path = _bad_soundfonts(tmp_path)[case]
    with running_server(env={"AURALIS_SOUNDFONT": str(path)}, wait_soundfont=False) as srv:
        messages, code, _ = asyncio.run(_first_until_close(srv.ws_url))
        assert code == 1011
        errors = [m for m in messages if m["type"] == "error"]
        assert len(errors) == 1 and errors[0]["code"] == "SOUNDFONT_LOAD_FAILED"
        assert errors[0]["recoverable"] is False
        assert path.name in errors[0]["message"], errors[0]["message"]  # a clear message: which file
        status = srv.status()
        assert status["soundfont_loaded"] is False and status["synthesis_active"] is False
        assert status["active_connections"] == 0
        assert httpx.get(f"{srv.url}/", timeout=5).status_code == 200
        assert httpx.get(f"{srv.url}/api/metrics", timeout=5).status_code == 200
        assert srv.process.poll() is None


def test_injected_synthesis_fault_hits_one_listener_only():
    with running_server(env={"AURALIS_FAULT_INJECTION": "1"}) as srv:
        logs, status = asyncio.run(asyncio.wait_for(fault_one_of(srv, [f"?seed={i}" for i in range(3)], "", 30), 60))
        assert "fault injected" in srv.logs()
        assert httpx.post(f"{srv.url}/debug/fault/nobody").status_code == 404
    hit, *others = logs
    assert [e["code"] for e in hit.errors] == ["INTERNAL_ERROR"] and hit.errors[0]["recoverable"] is False
    assert hit.close_code == 1011
    for log in others:
        assert log.errors == [] and log.close_code is None and log.gaps() == 0
    assert status["active_connections"] == 2 and status["synthesis_active"] is True


def test_fault_injection_is_off_by_default_and_refused_in_production():
    with running_server(wait_soundfont=False) as srv:
        assert httpx.post(f"{srv.url}/debug/fault/anyone").status_code in (404, 405)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURALIS_")}
    env.update({"AURALIS_ENV": "production", "AURALIS_FAULT_INJECTION": "1", "AURALIS_JWT_SECRET": "k" * 40,
                "AURALIS_ALLOWED_HOSTS": "127.0.0.1"})
    proc = subprocess.run([sys.executable, "-m", "auralis.cli", "serve", "--port", "1"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "cannot be enabled in production" in proc.stderr


async def _reconnecting_listener(url: str, params: dict, stop: asyncio.Event, events: list) -> None:
    """The protocol's client behaviour: reconnect with backoff 100 ms doubling to 5 s, resume
    with the last parameters (sent as the query)."""
    query = "?" + "&".join(f"{k}={v}" for k, v in params.items())
    delay = 0.1
    while not stop.is_set():
        try:
            async with websockets.connect(f"{url}/ws/stream{query}", compression=None, open_timeout=5) as ws:
                delay = 0.1
                async for frame in ws:
                    msg = json.loads(frame)
                    events.append((time.monotonic(), msg["type"], msg.get("seq"), msg.get("params")))
                    if stop.is_set():
                        return
        except (OSError, websockets.WebSocketException, TimeoutError):
            pass
        events.append((time.monotonic(), "gone", None, None))
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


def test_server_killed_and_restarted_listener_resumes_within_10_s():
    port = free_port()
    params = {"key": 69, "mode": "phrygian", "bpm": 40, "intensity": 0.2, "palette": "glass", "seed": 7}
    events: list = []

    async def scenario() -> tuple[float, float]:
        stop = asyncio.Event()
        with running_server(port=port) as srv:
            task = asyncio.create_task(_reconnecting_listener(srv.ws_url, params, stop, events))
            while sum(1 for e in events if e[1] == "audio") < 10:
                await asyncio.sleep(0.05)
            srv.process.send_signal(signal.SIGKILL)
            srv.process.wait(10)
            killed = time.monotonic()
        await asyncio.sleep(1.0)  # nothing listens; the client backs off
        with running_server(port=port) as srv2:
            ready = time.monotonic()
            while not any(e[1] == "audio" and e[0] > ready for e in events):
                assert time.monotonic() - ready < 15, "no audio from the restarted server"
                await asyncio.sleep(0.02)
            stop.set()
            await asyncio.wait_for(task, 10)
            assert srv2.port == port
        resumed = next(e[0] for e in events if e[1] == "audio" and e[0] > ready)
        return resumed - ready, resumed - killed

    after_ready, after_kill = asyncio.run(scenario())
    status_after = [e for e in events if e[1] == "status"][-1]
    assert status_after[3] == {k: v for k, v in params.items() if k != "seed"}  # the parameters resumed
    assert after_ready < 10, f"audio {after_ready:.2f} s after the restarted server was ready"
    print(f"\nresumed {after_ready:.2f} s after the restart was ready ({after_kill:.2f} s after the kill)")
