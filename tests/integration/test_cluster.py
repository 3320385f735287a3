"""A real cluster on loopback (scripts/cluster.py): 2 production instances behind a real Debian
nginx, sharing a real redis-server. Spread across instances, the shared rate limit, listener
counts and the cluster-wide cap, a station change applied on every instance at the same station
time, HLS files served with their cache headers, an instance that cannot render taken out, Redis
lost and back. The clean start and stop by pid, and the recipe's files: test_cluster_recipe.py;
failover in Chromium: tests/browser/test_cluster_failover.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import websockets

from auralis.streaming import frames as F
from auralis.streaming.station_score import STATION_EPOCH
from tests.support.cluster import LocalCluster, running_cluster
from tests.support.production import make_token, production_env
from tests.support.redis_server import wait_until

HEADER = "x-auralis-instance"
CLUSTER_CAP = 9

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    env = production_env(
        AURALIS_ALLOWED_HOSTS="127.0.0.1,localhost",
        AURALIS_HTTPS_REDIRECT="false",  # nginx on loopback speaks plain http here
        AURALIS_WS_CONNECT_RATE="1000/minute",
        AURALIS_MAX_LISTENERS_PER_ADDRESS="100",
        AURALIS_MAX_LISTENERS_PER_SUBJECT="100",
        AURALIS_CLUSTER_MAX_LISTENERS=str(CLUSTER_CAP),
        AURALIS_CLUSTER_HEARTBEAT_S="0.5",
    )
    with running_cluster(tmp_path_factory.mktemp("cluster"), env=env) as cl:
        yield cl


def bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(**claims)}"}


def health(cl: LocalCluster, name: str) -> tuple[int, dict]:
    r = httpx.get(f"{cl.instance_url(name)}/health", timeout=5)
    return r.status_code, r.json()


def stations(url: str) -> dict[str, dict]:
    r = httpx.get(f"{url}/api/stations", headers=bearer(), timeout=5)
    r.raise_for_status()
    return {s["name"]: s for s in r.json()["stations"]}


async def open_ws(base: str, query: str) -> Any:
    sep = "&" if query else ""
    return await websockets.connect(
        f"{base}/ws/stream?{query}{sep}token={make_token()}", compression=None, max_queue=512, open_timeout=20
    )


async def first_audio(ws: Any, timeout: float = 20) -> Any:
    while True:
        msg = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(msg, bytes):
            return F.unpack_frame(msg)


# --------------------------------------------------------------------------------------------


def test_listeners_spread_across_instances_and_every_answer_names_its_instance(cluster: LocalCluster):
    page = httpx.get(f"{cluster.url}/", timeout=5)
    assert page.status_code == 200 and page.headers[HEADER] in cluster.instances

    async def run() -> list[str]:
        sockets = []
        try:
            for _ in range(6):  # held open: least_conn sends each new one to the emptier instance
                sockets.append(await open_ws(cluster.ws_url, "format=pcm&seed=5"))
            for ws in sockets:
                frame = await first_audio(ws)
                assert frame.codec_name == "pcm" and len(frame.payload) == 17640
            return [ws.response.headers[HEADER] for ws in sockets]
        finally:
            for ws in sockets:
                await ws.close()

    served = asyncio.run(asyncio.wait_for(run(), 90))
    assert Counter(served) == {"auralis-1": 3, "auralis-2": 3}, served


def test_the_production_rate_limit_holds_across_the_cluster(cluster: LocalCluster):
    with httpx.Client(headers=bearer(), timeout=10) as client:
        responses = [client.get(f"{cluster.url}/api/metrics") for _ in range(6)]
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    assert {r.headers[HEADER] for r in responses} == set(cluster.instances), "both instances answered"
    body = responses[5].json()
    assert body["error"] == "Rate limit exceeded" and 1 <= body["retry_after"] <= 60
    # and straight at either instance: the same shared window
    for name in cluster.instances:
        r = httpx.get(f"{cluster.instance_url(name)}/api/metrics", headers=bearer(), timeout=10)
        assert r.status_code == 429 and r.headers[HEADER] == name


def test_listener_counts_and_the_cluster_cap_span_the_instances(cluster: LocalCluster):
    a, b = (f"ws://127.0.0.1:{p}" for p in cluster.instances.values())

    async def run() -> None:
        held = []
        try:
            for base, n in ((a, 3), (b, 2)):
                for _ in range(n):
                    ws = await open_ws(base, "station=focus&format=pcm")
                    await first_audio(ws)
                    held.append(ws)
            for base in (a, b):
                for _ in range(2):
                    held.append(await open_ws(base, "format=pcm"))
            # 9 open: 5 on auralis-1, 4 on auralis-2; each sees the other's within a heartbeat
            for name, here in (("auralis-1", 5), ("auralis-2", 4)):
                await asyncio.to_thread(
                    wait_until,
                    lambda name=name, here=here: health(cluster, name)[1]["listeners_elsewhere"] == CLUSTER_CAP - here,
                    10, f"{name} sees the other instance's listeners",
                )
            for url, here in ((cluster.instance_url("auralis-1"), 3), (cluster.instance_url("auralis-2"), 2)):
                focus = (await asyncio.to_thread(stations, url))["focus"]["listeners"]
                assert focus["total"] == 5 and focus["by_transport"]["ws_pcm"] == 5 and focus["this_instance"] == here
            # the cluster is full: a 10th listener is refused (1013) whichever instance takes it
            for base in (a, b, cluster.ws_url):
                ws = await open_ws(base, "format=pcm")
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 10)
                assert closed.value.rcvd.code == 1013 and "cluster at capacity (9" in closed.value.rcvd.reason
            # HTTP listeners get 503 naming the cap; nginx tries each instance but counts none of
            # it as a failure: the instances stay in for everyone else
            async with httpx.AsyncClient(timeout=10, headers=bearer()) as c:
                for _ in range(4):
                    r = await c.get(f"{cluster.url}/stream/focus.ogg")
                    assert r.status_code == 503 and r.json()["cap"] == "cluster"
                answered = {(await c.get(f"{cluster.url}/health")).headers[HEADER] for _ in range(4)}
            assert answered == set(cluster.instances), "a full cluster still has both instances in nginx"
        finally:
            for ws in held:
                await ws.close()

    asyncio.run(asyncio.wait_for(run(), 120))
    # closed listeners leave the totals (each instance's next heartbeat)
    wait_until(lambda: all(health(cluster, n)[1]["listeners_elsewhere"] == 0 for n in cluster.instances), 10,
               "the totals drop back to 0")


def test_a_station_change_plays_on_every_instance_from_the_same_station_time(cluster: LocalCluster):
    bases = [f"ws://127.0.0.1:{p}" for p in cluster.instances.values()]

    async def listen(base: str, got: list, nows: list) -> None:
        async with await open_ws(base, "station=bright&format=pcm") as ws:
            while True:
                msg = await ws.recv()
                if isinstance(msg, bytes):
                    got.append(F.unpack_frame(msg))
                else:
                    m = json.loads(msg)
                    if m["type"] == "now":
                        nows.append(m)

    async def run() -> tuple[dict, list, list]:
        got: list[list] = [[], []]
        nows: list[list] = [[], []]
        tasks = [asyncio.create_task(listen(base, got[i], nows[i])) for i, base in enumerate(bases)]
        try:
            await asyncio.sleep(1.5)
            async with httpx.AsyncClient(timeout=10) as c:
                denied = await c.put(f"{cluster.url}/api/stations/bright", json={"bpm": 55}, headers=bearer())
                assert denied.status_code == 403  # a listener's token is not an operator's
                bad = await c.put(f"{cluster.url}/api/stations/bright", json={"bpm": 500},
                                  headers=bearer(role="operator"))
                assert bad.status_code == 422 and bad.json()["field"] == "bpm"
                ok = await c.put(f"{cluster.url}/api/stations/bright", json={"bpm": 55, "intensity": 0.4},
                                 headers=bearer(role="operator"))
            assert ok.status_code == 200, ok.text
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not all(
                any(n["params"]["bpm"] == 55.0 for n in ns) for ns in nows
            ):
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)  # a couple of seconds of the changed music on both
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return ok.json(), got, nows

    body, got, nows = asyncio.run(asyncio.wait_for(run(), 60))
    assert body["relayed"] is True and body["parameters"]["bpm"] == 55.0
    # every instance has the change at the very station time the PUT answered
    for name in cluster.instances:
        bright = stations(cluster.instance_url(name))["bright"]
        assert bright["parameters"]["bpm"] == 55.0 and bright["effective_time"] == body["effective_time"]
    # and plays it from there: the first chunk with the new parameters was synthesised at about
    # the same moment on both (the same station chunk; synthesis times jitter by a few ms), after
    # the change's time less the render lead, and what follows (chords, sections) is the same
    firsts = []
    for frames, ns in zip(got, nows):
        changed = next(i for i, n in enumerate(ns) if n["params"]["bpm"] == 55.0)
        ts = {f.seq: f.timestamp for f in frames}[ns[changed]["seq"]]
        assert ts >= STATION_EPOCH + body["effective_time"] - 1.0
        firsts.append((ts, [(n["chord"], n["section"], n["params"]) for n in ns[changed:]]))
    (ts_a, after_a), (ts_b, after_b) = firsts
    assert abs(ts_a - ts_b) < 0.35, f"first changed chunk synthesised {abs(ts_a - ts_b):.3f} s apart"
    common = min(len(after_a), len(after_b))
    assert common >= 1 and after_a[:common] == after_b[:common]


def test_bad_relayed_messages_are_dropped_and_nothing_is_half_applied(cluster: LocalCluster):
    client = redis.Redis.from_url(cluster.redis_url)
    try:
        before = {n: stations(cluster.instance_url(n))["sleep"]["parameters"] for n in cluster.instances}
        bad = {"v": 1, "id": "bad-1", "origin": "intruder", "station": "sleep", "at": 1.0,
               "params": {"key": 60, "mode": "dorian", "bpm": 400, "intensity": 0.5}}
        client.publish("auralis:stations:changes", json.dumps(bad))
        client.publish("auralis:stations:changes", b"\x00not json")
        client.publish("auralis:stations:changes", json.dumps({**bad, "id": "bad-2", "station": "nope",
                                                              "params": {**bad["params"], "bpm": 50}}))
        wait_until(lambda: all("station change from redis ignored" in cluster.logs(n) for n in cluster.instances),
                   10, "both instances log the refusal")
        for name in cluster.instances:
            assert stations(cluster.instance_url(name))["sleep"]["parameters"] == before[name]
            assert health(cluster, name)[0] == 200
    finally:
        client.close()


def test_hls_files_are_served_by_nginx_with_their_cache_headers(cluster: LocalCluster):
    # not a station's folder: the instances publish every station there (HLS writer), which
    # would replace this playlist with theirs
    station = cluster.hls_dir / "nginx-check"
    station.mkdir(parents=True, exist_ok=True)
    playlist = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\nseg00001.m4s\n"
    (station / "index.m3u8").write_text(playlist)
    segment = bytes(range(256)) * 64
    (station / "seg00001.m4s").write_bytes(segment)
    (station / "seg00002.ts").write_bytes(segment[:188])
    r = httpx.get(f"{cluster.url}/hls/nginx-check/index.m3u8", timeout=5)
    assert r.status_code == 200 and r.text == playlist
    assert r.headers["content-type"] == "application/vnd.apple.mpegurl" and r.headers["cache-control"] == "no-cache"
    assert HEADER not in r.headers  # nginx served it from disk, no instance involved
    r = httpx.get(f"{cluster.url}/hls/nginx-check/seg00001.m4s", timeout=5)
    assert r.content == segment and r.headers["cache-control"] == "public, max-age=60"
    assert r.headers["content-type"] == "audio/mp4"
    r = httpx.get(f"{cluster.url}/hls/nginx-check/seg00002.ts", timeout=5)
    assert r.headers["content-type"] == "video/mp2t" and r.headers["cache-control"] == "public, max-age=60"
    assert httpx.get(f"{cluster.url}/hls/nginx-check/missing.m4s", timeout=5).status_code == 404
    assert httpx.get(f"{cluster.url}/hls/../cluster.json", timeout=5).status_code in (400, 404)


def test_an_instance_without_its_soundfont_is_taken_out_and_the_other_serves(cluster: LocalCluster):
    cluster.stop("auralis-2")
    cluster.start_instance("auralis-2", env={"AURALIS_SOUNDFONT": str(cluster.dir / "missing.sf2")})
    try:
        cluster.wait_instance("auralis-2", 60, status=503)
        code, body = health(cluster, "auralis-2")
        assert code == 503 and body["status"] == "failed" and "missing.sf2" in body["soundfont_error"]

        async def run() -> list[str]:
            sockets = []
            try:
                for _ in range(6):
                    sockets.append(await open_ws(cluster.ws_url, "format=pcm"))
                for ws in sockets:
                    await first_audio(ws)  # every listener plays
                return [ws.response.headers[HEADER] for ws in sockets]
            finally:
                for ws in sockets:
                    await ws.close()

        served = asyncio.run(asyncio.wait_for(run(), 90))
        assert set(served) == {"auralis-1"}, served
        for _ in range(3):  # endless HTTP audio too: read its head and a first page, then leave
            with httpx.stream("GET", f"{cluster.url}/stream/focus.ogg", headers=bearer(), timeout=20) as r:
                assert r.status_code == 200 and r.headers[HEADER] == "auralis-1"
                assert next(r.iter_bytes()).startswith(b"OggS")
    finally:
        cluster.stop("auralis-2")
        cluster.start_instance("auralis-2")
        cluster.wait_instance("auralis-2", 90)


def test_redis_lost_and_back(cluster: LocalCluster):
    base = f"ws://127.0.0.1:{cluster.instances['auralis-2']}"
    log_marks = {n: len(cluster.logs(n)) for n in cluster.instances}

    async def listener(frames: list, stop: asyncio.Event) -> None:
        async with await open_ws(base, "station=meditation&format=pcm") as ws:
            while not stop.is_set():
                msg = await asyncio.wait_for(ws.recv(), 10)
                if isinstance(msg, bytes):
                    frames.append(F.unpack_frame(msg))

    async def scenario() -> tuple[list, dict]:
        frames: list = []
        stop = asyncio.Event()
        task = asyncio.create_task(listener(frames, stop))
        await asyncio.sleep(1.0)
        listening_from = time.monotonic()
        cluster.stop("redis")
        lost = time.monotonic()
        # both instances say so, and keep serving: health, a new listener through nginx, the API
        for name in cluster.instances:
            await asyncio.to_thread(
                wait_until, lambda name=name: health(cluster, name)[1]["redis"] == "unreachable", 10,
                f"{name} reports redis unreachable")
            code, body = health(cluster, name)
            assert code == 200 and body["status"] == "degraded"
        assert time.monotonic() - lost < 10
        started = time.monotonic()
        ws = await open_ws(cluster.ws_url, "format=pcm")
        await first_audio(ws)
        assert time.monotonic() - started < 5, "a new listener is not held up by the missing Redis"
        await ws.close()
        async with httpx.AsyncClient(timeout=10) as c:
            started = time.monotonic()
            r = await c.get(f"{cluster.instance_url('auralis-1')}/api/stations", headers=bearer())
            assert r.status_code == 200 and time.monotonic() - started < 2
            change = await c.put(f"{cluster.instance_url('auralis-1')}/api/stations/meditation",
                                 json={"bpm": 45}, headers=bearer(role="operator"))
        assert change.status_code == 200 and change.json()["relayed"] is False
        await asyncio.sleep(2.0)
        cluster.start_redis()
        back = time.monotonic()
        for name in cluster.instances:
            await asyncio.to_thread(
                wait_until, lambda name=name: health(cluster, name)[1]["redis"] == "connected", 15,
                f"{name} reconnects to redis")
        recovered_s = time.monotonic() - back
        # the change made meanwhile went out when Redis returned: the other instance has it
        await asyncio.to_thread(
            wait_until,
            lambda: stations(cluster.instance_url("auralis-2"))["meditation"]["parameters"]["bpm"] == 45.0,
            10, "the change made while Redis was away reaches the other instance")
        await asyncio.sleep(1.0)
        listened_s = time.monotonic() - listening_from
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        return frames, {"recovered_s": recovered_s, "listened_s": listened_s}

    frames, figures = asyncio.run(asyncio.wait_for(scenario(), 120))
    print(f"\nredis back: both instances connected again {figures['recovered_s']:.2f} s after it restarted")
    seqs = [f.seq for f in frames]
    # every 100 ms chunk of the time Redis was away and back (at least), in order
    assert len(seqs) >= 10 * figures["listened_s"] * 0.95, (len(seqs), figures)
    assert seqs == list(range(len(seqs))), "the listener played through, no gap"
    for name in cluster.instances:
        log = cluster.logs(name)[log_marks[name]:]
        assert log.count("redis unreachable") == 1, f"{name} logs the loss once"
        assert log.count("redis recovered") == 1, f"{name} logs the return once"
        assert health(cluster, name)[1]["status"] == "ok"


def test_an_instance_whose_redis_is_missing_at_start_serves_and_joins_when_it_comes(tmp_path: Path):
    """No Redis when the instance starts: it starts anyway (no hang), serves, says so once, and
    joins when a redis-server appears on its URL."""
    from scripts.cluster import free_port
    from tests.support.server import running_server

    solo = LocalCluster(tmp_path, redis_port=free_port())  # only for its redis-server
    env = {"AURALIS_REDIS_URL": solo.redis_url, "AURALIS_INSTANCE_ID": "lonely", "AURALIS_CLUSTER_HEARTBEAT_S": "0.5"}
    started = time.monotonic()
    with running_server(env=env) as srv:
        assert time.monotonic() - started < 60
        body = httpx.get(f"{srv.url}/health", timeout=5).json()
        assert body["status"] == "degraded" and body["redis"] == "unreachable" and body["instance"] == "lonely"

        async def play() -> Any:
            async with await websockets.connect(f"{srv.ws_url}/ws/stream?format=pcm", open_timeout=20) as ws:
                assert ws.response.headers[HEADER] == "lonely"
                return await first_audio(ws)

        assert asyncio.run(asyncio.wait_for(play(), 30)).codec_name == "pcm"
        solo.dir.mkdir(parents=True, exist_ok=True)
        solo.start_redis()
        try:
            wait_until(lambda: httpx.get(f"{srv.url}/health", timeout=5).json()["status"] == "ok", 10,
                       "the instance joins the Redis that appeared")
            keys = redis.Redis.from_url(solo.redis_url).hkeys("auralis:cluster:listeners")
            assert keys == [b"lonely"]
            logs = srv.logs()
        finally:
            solo.stop("redis")
    assert logs.count("redis unreachable") == 1 and logs.count("redis recovered") == 1
