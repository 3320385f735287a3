"""A real server (uvicorn on a free loopback port) and real WebSocket clients (`websockets`).

One server is shared by the module; each test opens its own listeners.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import ServerProcess, running_server

CHUNK_BYTES = 17640


@pytest.fixture(scope="module")
def server() -> ServerProcess:
    # the server's own keepalive pings time the network latency: ping often enough to see them
    with running_server(env={"AURALIS_WS_PING_INTERVAL_S": "0.5"}) as srv:
        yield srv


async def recv_json(ws: Any, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def next_of(ws: Any, kind: str, timeout: float = 5.0, seen: list | None = None) -> dict:
    """The next message of `kind`, keeping the others in `seen`."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await recv_json(ws, max(0.01, deadline - time.monotonic()))
        if msg["type"] == kind:
            return msg
        if seen is not None:
            seen.append(msg)


def pcm(msg: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(msg["data"]), dtype="<i2")


def wait_for(predicate, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


async def wait_for_metrics(server: ServerProcess, predicate, timeout: float = 10.0) -> dict | None:
    """The first /api/metrics answer that satisfies `predicate`, polled within `timeout`."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            m = (await client.get(f"{server.url}/api/metrics")).json()
            if predicate(m):
                return m
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.02)


def test_first_message_then_consecutive_pcm_chunks(server: ServerProcess) -> None:
    async def run() -> tuple[dict, list[dict]]:
        async with websockets.connect(f"{server.ws_url}/ws/stream?seed=7&key=62") as ws:
            first = await recv_json(ws)
            chunks = [await next_of(ws, "audio") for _ in range(30)]
            return first, chunks

    first, chunks = asyncio.run(run())
    assert first["type"] == "status" and first["state"] == "connected"
    assert first["seed"] == 7 and first["params"]["key"] == 62 and first["client_id"]
    assert [c["seq"] for c in chunks] == list(range(30))
    for c in chunks:
        assert len(base64.b64decode(c["data"])) == CHUNK_BYTES
        assert (c["sample_rate"], c["channels"], c["duration_ms"]) == (44100, 2, 100.0)
        assert c["timestamp"] == pytest.approx(time.time(), abs=30)
    audio = np.concatenate([pcm(c) for c in chunks]).astype(np.float64) / 32768.0
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(audio**2)) + 1e-12)
    assert rms_dbfs > -50, f"stream is silent ({rms_dbfs:.1f} dBFS)"
    assert np.abs(audio).max() < 1.0


def test_ten_concurrent_clients_get_real_time_streams(server: ServerProcess) -> None:
    duration = 6.0
    peak: dict = {}

    async def listener(i: int) -> tuple[list[int], float, bytes]:
        async with websockets.connect(f"{server.ws_url}/ws/stream?seed={100 + i}") as ws:
            assert (await recv_json(ws))["state"] == "connected"
            seqs: list[int] = []
            first_pcm = b""
            start = time.monotonic()
            while time.monotonic() - start < duration:
                msg = await next_of(ws, "audio")
                seqs.append(msg["seq"])
                if not first_pcm and msg["seq"] == 20:
                    first_pcm = base64.b64decode(msg["data"])
            return seqs, time.monotonic() - start, first_pcm

    async def watch() -> None:
        await asyncio.sleep(duration / 2)
        async with httpx.AsyncClient() as client:
            peak.update((await client.get(f"{server.url}/api/status")).json())

    async def run() -> list:
        results = await asyncio.gather(*(listener(i) for i in range(10)), watch())
        return results[:10]

    results = asyncio.run(run())
    for seqs, elapsed, _ in results:
        assert seqs == list(range(len(seqs))), "gap or reorder in seq"
        assert len(seqs) >= 0.95 * elapsed / 0.1, (len(seqs), elapsed)
    assert len({r[2] for r in results}) == 10, "listeners with different seeds must get different music"
    assert peak["active_connections"] == 10
    assert peak["synthesis_active"] is True and peak["soundfont_loaded"] is True
    assert 0 <= peak["buffer_depth"] <= 20
    assert wait_for(lambda: server.status()["active_connections"] == 0)
    assert server.status()["synthesis_active"] is False


def test_update_params_and_preset_are_acknowledged_and_take_effect(server: ServerProcess) -> None:
    new = {"key": 64, "mode": "lydian", "bpm": 75.0, "intensity": 0.7}

    async def run() -> tuple[dict, dict, dict, dict, int]:
        async with websockets.connect(f"{server.ws_url}/ws/stream?seed=3") as ws:
            await recv_json(ws)
            current = (await next_of(ws, "audio"))["seq"]
            await ws.send(json.dumps({"type": "update_params", "params": new, "timestamp": time.time()}))
            ack = await next_of(ws, "params")
            while (chunk := await next_of(ws, "audio", timeout=10))["seq"] < ack["effective_seq"]:
                pass
            await ws.send(json.dumps({"type": "select_preset", "preset": "sleep", "timestamp": time.time()}))
            ack2 = await next_of(ws, "params")
            while (chunk2 := await next_of(ws, "audio", timeout=10))["seq"] < ack2["effective_seq"]:
                pass
            return ack, chunk, ack2, chunk2, current

    ack, chunk, ack2, chunk2, current = asyncio.run(run())
    # `params` holds every parameter in force: the four the message set, and the palette it left
    # alone (the default's; docs/server.md: palette is an extension of the protocol's parameters)
    assert ack["params"] == {**new, "palette": "classic"} and ack["preset"] is None
    assert current < ack["effective_seq"] <= current + 50  # audible within 5 s
    assert chunk["params"] == ack["params"]
    assert ack2["preset"] == "sleep"
    # a preset keeps the key and brings the palette of its name
    assert ack2["params"] == {"key": 64, "mode": "phrygian", "bpm": 40.0, "intensity": 0.2, "palette": "sleep"}
    assert chunk2["params"] == ack2["params"]


def test_invalid_messages_get_errors_while_the_stream_goes_on(server: ServerProcess) -> None:
    bad = [
        "this is not json",
        json.dumps([1, 2, 3]),
        json.dumps({"type": "teleport"}),
        json.dumps({"type": "ping", "timestamp": 1.0, "pad": "x" * 5000}),
        json.dumps({"type": "update_params", "params": {"key": 62, "bpm": 500}}),
        json.dumps({"type": "select_preset", "preset": "party"}),
        b"\x00\x01binary",
    ]

    async def run() -> tuple[list[dict], list[int], dict]:
        async with websockets.connect(f"{server.ws_url}/ws/stream?seed=5") as ws:
            await recv_json(ws)
            seqs = [(await next_of(ws, "audio"))["seq"]]
            errors: list[dict] = []
            for frame in bad:
                await ws.send(frame)
                seen: list[dict] = []
                errors.append(await next_of(ws, "error", seen=seen))
                seqs += [m["seq"] for m in seen if m["type"] == "audio"]
                assert not [m for m in seen if m["type"] == "params"]
            for _ in range(10):
                seqs.append((await next_of(ws, "audio"))["seq"])
            await ws.send(json.dumps({"type": "update_params", "params": {"bpm": 55}}))
            return errors, seqs, await next_of(ws, "params")

    errors, seqs, ack = asyncio.run(run())
    assert all(e["code"] == "INVALID_MESSAGE" and e["recoverable"] is True for e in errors)
    assert "bpm" in errors[4]["message"] and "preset" in errors[5]["message"]
    assert "4096" in errors[3]["message"]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert ack["params"]["bpm"] == 55.0 and ack["params"]["key"] == 60  # the bad bpm was not applied


def test_ping_and_telemetry_feed_the_metrics(server: ServerProcess) -> None:
    before = server.metrics()

    async def run() -> tuple[dict, float, float, dict]:
        async with websockets.connect(f"{server.ws_url}/ws/stream") as ws:
            await recv_json(ws)
            sent = time.time()
            await ws.send(json.dumps({"type": "ping", "timestamp": sent}))
            pong = await next_of(ws, "pong")
            # a client's round-trip claim is not a figure: network latency is the server's own pings
            await ws.send(json.dumps({"type": "ping", "timestamp": time.time(), "rtt_ms": 30_000}))
            await next_of(ws, "pong")
            chunk = await next_of(ws, "audio")
            arrived = time.time()
            await asyncio.sleep(0.3)  # "play" the chunk 300 ms after it arrived
            await ws.send(
                json.dumps(
                    {"type": "telemetry", "played_seq": chunk["seq"], "played_at": time.time(),
                     "buffered_ms": 300.0, "underruns": 2, "timestamp": time.time()}
                )
            )
            held_ms = (time.time() - arrived) * 1000
            # wait (bounded) until the server has taken the telemetry in and timed a ping of its own
            metrics = await wait_for_metrics(
                server,
                lambda m: m["end_to_end_latency_ms"]["samples"] > before["end_to_end_latency_ms"]["samples"]
                and m["network_latency_ms"]["samples"] > before["network_latency_ms"]["samples"],
            )
            assert metrics, "the telemetry or a server-timed round trip never reached the metrics"
            return pong, sent, held_ms, metrics

    pong, sent, held_ms, during = asyncio.run(run())
    assert pong["client_timestamp"] == sent and pong["server_timestamp"] == pytest.approx(sent, abs=1)
    assert 0 < during["network_latency_ms"]["p99"] < 1000  # loopback, not the claimed 30,000 ms
    # the disconnect is counted when the server has closed the session
    after = wait_for(lambda: (m := server.metrics())["disconnects"] > before["disconnects"] and m)
    assert after, "the disconnect was never counted"
    e2e = after["end_to_end_latency_ms"]
    assert e2e["samples"] == before["end_to_end_latency_ms"]["samples"] + 1
    # produced before it arrived, then held `held_ms` before "playing" (same clock here)
    assert held_ms <= e2e["p99"] <= held_ms + 2000
    assert after["buffer_underruns"] >= before["buffer_underruns"] + 2
    assert after["synthesis_latency_ms"]["samples"] > 0
    assert after["disconnects"] >= before["disconnects"] + 1


def test_prometheus_text_parses(server: ServerProcess) -> None:
    text = httpx.get(f"{server.url}/metrics").text
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    synth = fams["auralis_synthesis_latency_ms"]
    assert synth.type == "histogram"
    names = {s.name for s in synth.samples}
    assert {"auralis_synthesis_latency_ms_bucket", "auralis_synthesis_latency_ms_sum",
            "auralis_synthesis_latency_ms_count"} <= names
    count = next(s.value for s in synth.samples if s.name.endswith("_count"))
    assert count > 0  # earlier tests streamed
    assert fams["auralis_memory_usage_mb"].samples[0].value > 10
    assert {"auralis_network_latency_ms", "auralis_end_to_end_latency_ms", "auralis_buffer_underruns",
            "auralis_disconnects", "process_resident_memory_bytes", "python_gc_objects_collected"} <= set(fams)


def test_bad_query_is_refused_with_1008_naming_the_parameter(server: ServerProcess) -> None:
    async def run(query: str) -> tuple[int, str]:
        async with websockets.connect(f"{server.ws_url}/ws/stream?{query}") as ws:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            return ws.close_code, ws.close_reason

    for query, name in (("bpm=500", "bpm"), ("mode=x", "mode"), ("seed=abc", "seed")):
        code, reason = asyncio.run(run(query))
        assert code == 1008 and name in reason
