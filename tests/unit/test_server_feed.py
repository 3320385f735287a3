"""The operator feed: one computation per tick for every viewer, per-minute rates, the role check."""

from __future__ import annotations

import asyncio
import json

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from auralis.server.feed import CounterRates, OperatorFeed, feed_router
from auralis.server.security import OPERATOR_ROLE, has_role, install_security
from auralis.server.settings import Settings
from tests.support.production import SECRET, make_token


def test_rates_per_minute_over_a_sliding_window():
    r = CounterRates(("disconnects",), window_s=60)
    r.add(0.0, {"disconnects": 10})
    assert r.per_minute() == {"disconnects": None}, "one sample: no rate yet"
    r.add(30.0, {"disconnects": 13})
    assert r.per_minute() == {"disconnects": 6.0}  # 3 in 30 s
    for t in range(31, 200):
        r.add(float(t), {"disconnects": 13 + (t - 30) // 10})  # one every 10 s
    assert r.per_minute()["disconnects"] == 6.0
    assert 60 <= r.span_s <= 61, "the window stays about a minute long"
    r.add(200.0, {"disconnects": 0})  # a counter reset never shows a negative rate
    assert r.per_minute()["disconnects"] == 0.0


def test_every_viewer_gets_the_same_event_from_one_computation():
    calls = {"n": 0}

    def sample():
        calls["n"] += 1
        return {"active_connections": calls["n"]}, {"buffer_underruns": 0, "buffer_overflows": 0, "disconnects": calls["n"]}

    async def scenario():
        ticks = iter(range(1000))
        feed = OperatorFeed(sample, interval_s=0.05, clock=lambda: float(next(ticks)))  # a second a tick
        got: list[list[bytes]] = [[], [], []]

        async def viewer(i: int) -> None:
            async for event in feed.subscribe():
                got[i].append(event)
                if len(got[i]) >= 5:
                    return

        await asyncio.wait_for(asyncio.gather(*(viewer(i) for i in range(3))), 5)
        feed.close()
        return feed, got

    feed, got = asyncio.run(scenario())
    assert feed.viewers == 0
    # Three viewers, five events each, from about five computations (not fifteen).
    assert feed.ticks == calls["n"] <= 7
    events = [[json.loads(e.split(b"data: ", 1)[1]) for e in g] for g in got]
    assert events[0][-1]["status"]["active_connections"] >= 5
    # The same bytes object for everyone: encoded once per tick, not once per viewer.
    assert all(a is b is c for a, b, c in zip(*got, strict=True))
    assert events[0][-1]["rates_per_min"]["disconnects"] == 60.0  # one more each (fake) second
    assert events[0][-1]["viewers"] == 3
    assert got[0][0].startswith(b"event: sample\ndata: {")


def test_the_feed_stops_computing_when_nobody_watches():
    calls = {"n": 0}

    def sample():
        calls["n"] += 1
        return {}, {"buffer_underruns": 0, "buffer_overflows": 0, "disconnects": 0}

    async def scenario():
        feed = OperatorFeed(sample, interval_s=0.02)
        async for _ in feed.subscribe():
            break
        await asyncio.sleep(0.1)  # the producer notices and stops
        n = calls["n"]
        await asyncio.sleep(0.1)
        return n

    n = asyncio.run(scenario())
    assert n == calls["n"] <= 3


def test_role_claims():
    assert has_role({"role": OPERATOR_ROLE}, OPERATOR_ROLE)
    assert has_role({"roles": ["listener", OPERATOR_ROLE]}, OPERATOR_ROLE)
    assert not has_role({"role": "listener"}, OPERATOR_ROLE)
    assert not has_role({"roles": OPERATOR_ROLE}, OPERATOR_ROLE), "roles must be a list"
    assert not has_role({}, OPERATOR_ROLE)


def test_production_feed_needs_the_operator_role():
    s = Settings(env="production", jwt_secret=SECRET, allowed_hosts="testserver")
    app = FastAPI()
    install_security(app, s)
    app.include_router(feed_router(OperatorFeed(lambda: ({}, {}))))

    @app.get("/api/ping")
    async def ping(request: Request) -> dict:
        return {"ok": True}

    client = TestClient(app, base_url="https://testserver")
    assert client.get("/api/feed").status_code == 401  # the gate: no token
    r = client.get("/api/feed", headers={"Authorization": f"Bearer {make_token()}"})
    assert r.status_code == 403
    assert r.json() == {"error": "Forbidden", "detail": "the live feed needs an operator token (a 'operator' role claim)"}
