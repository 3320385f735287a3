"""Rate limits on real servers: the contract's 429, WebSocket connection and message limits, and
counters shared through a real redis-server (started here on a free loopback port) by two
server instances, with the in-memory fallback when Redis goes away."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
import redis
import websockets

from tests.support.production import HTTPS, auth_headers, make_token, production_env
from tests.support.redis_server import running_redis
from tests.support.server import running_server

@pytest.fixture()
def redis_url() -> Iterator[str]:
    with running_redis() as url:
        yield url


def metrics_codes(url: str, n: int) -> list[httpx.Response]:
    with httpx.Client(headers=auth_headers(), timeout=10) as client:
        return [client.get(f"{url}/api/metrics") for _ in range(n)]


def assert_contract_429(r: httpx.Response) -> None:
    assert r.status_code == 429
    body = r.json()
    assert set(body) == {"error", "retry_after"} and body["error"] == "Rate limit exceeded"
    assert isinstance(body["retry_after"], int) and 1 <= body["retry_after"] <= 60
    assert r.headers["retry-after"] == str(body["retry_after"])
    assert r.headers["content-type"] == "application/json"


def test_metrics_limited_at_5_per_minute_with_the_contract_429():
    with running_server(env=production_env(), headers=auth_headers()) as srv:
        responses = metrics_codes(srv.url, 6)
        assert [r.status_code for r in responses[:5]] == [200] * 5
        assert_contract_429(responses[5])
        # limits are per endpoint: /api/status (its own limit) still answers
        assert httpx.get(f"{srv.url}/api/status", headers=auth_headers()).status_code == 200


def test_status_default_limit_10_per_minute():
    env = production_env()
    del env["AURALIS_RATE_LIMIT_STATUS"]  # the production default
    with running_server(env=env, headers=auth_headers(), wait_soundfont=False) as srv:
        with httpx.Client(headers=auth_headers(), timeout=10) as client:
            codes = [client.get(f"{srv.url}/api/status").status_code for _ in range(12)]
        # the launcher's readiness check took one or more of the 10
        assert codes.count(200) <= 9 and codes[-1] == 429
        assert codes == sorted(codes)  # every 200 before every 429


async def _ws(url: str, n: int) -> tuple[list[dict], int | None]:
    async with websockets.connect(url, additional_headers=HTTPS, compression=None, open_timeout=20) as ws:
        out = []
        try:
            while len(out) < n:
                out.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
        except websockets.ConnectionClosed as exc:
            return out, exc.rcvd.code if exc.rcvd else None
        return out, None


def test_websocket_connections_per_ip_limited():
    with running_server(env=production_env(AURALIS_WS_CONNECT_RATE="3/minute"), headers=auth_headers()) as srv:
        url = f"{srv.ws_url}/ws/stream?token={make_token()}"
        for _ in range(3):
            messages, code = asyncio.run(_ws(url, 2))
            assert code is None and messages[0]["state"] == "connected"
        messages, code = asyncio.run(_ws(url, 2))
        assert code == 1008
        assert messages[0]["code"] == "RATE_LIMITED" and messages[0]["recoverable"] is False
        assert "3 per minute" in messages[0]["message"]


def test_message_flood_gets_rate_limited_then_closed_while_others_play():
    async def scenario(srv) -> tuple[list[dict], int | None, list[int]]:
        url = f"{srv.ws_url}/ws/stream?token={make_token()}"
        async with websockets.connect(url, additional_headers=HTTPS, compression=None) as calm:
            async with websockets.connect(url, additional_headers=HTTPS, compression=None) as flood:
                await flood.recv()
                ping = json.dumps({"type": "ping", "timestamp": time.time()})
                errors, code = [], None
                try:
                    for _ in range(500):
                        await flood.send(ping)
                    while True:
                        msg = json.loads(await asyncio.wait_for(flood.recv(), 10))
                        if msg["type"] == "error":
                            errors.append(msg)
                except websockets.ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd else None
            seqs = []
            while len(seqs) < 20:
                msg = json.loads(await calm.recv())
                if msg["type"] == "audio":
                    seqs.append(msg["seq"])
        return errors, code, seqs

    with running_server(env=production_env(), headers=auth_headers()) as srv:
        errors, code, seqs = asyncio.run(scenario(srv))
    assert code == 1008
    assert [e["code"] for e in errors] == ["RATE_LIMITED"] * len(errors) and len(errors) >= 2
    assert errors[0]["recoverable"] is True and errors[-1]["recoverable"] is False
    assert seqs == list(range(seqs[0], seqs[0] + 20))  # the calm listener never noticed


def test_redis_shares_limits_between_instances_and_survives_redis_loss(redis_url):
    env = production_env(AURALIS_REDIS_URL=redis_url, AURALIS_WS_CONNECT_RATE="2/minute")
    with running_server(env=env, headers=auth_headers()) as a, running_server(env=env, headers=auth_headers()) as b:
        # /api/metrics: 5 per minute per client IP, across both instances
        codes = [r.status_code for r in metrics_codes(a.url, 3)] + [r.status_code for r in metrics_codes(b.url, 3)]
        assert codes == [200, 200, 200, 200, 200, 429]
        assert_contract_429(metrics_codes(a.url, 1)[0])
        keys = redis.Redis.from_url(redis_url).keys("*")
        assert any(b"auralis:http" in k for k in keys), keys
        # WebSocket connections per IP, across both instances
        url_a = f"{a.ws_url}/ws/stream?token={make_token()}"
        url_b = f"{b.ws_url}/ws/stream?token={make_token()}"
        assert asyncio.run(_ws(url_a, 1))[1] is None
        assert asyncio.run(_ws(url_b, 1))[1] is None
        messages, code = asyncio.run(_ws(url_a, 2))
        assert code == 1008 and messages[0]["code"] == "RATE_LIMITED"
        assert any(b"auralis:ws-connect" in k for k in redis.Redis.from_url(redis_url).keys("*"))

        # Redis goes away: both instances keep answering, limiting in memory, never a 500
        redis.Redis.from_url(redis_url).shutdown(nosave=True)
        for srv in (a, b):
            codes = [r.status_code for r in metrics_codes(srv.url, 7)]
            assert set(codes) <= {200, 429} and codes[-1] == 429, codes
            assert httpx.get(f"{srv.url}/api/status", headers=auth_headers()).status_code == 200
            messages, code = asyncio.run(_ws(f"{srv.ws_url}/ws/stream?token={make_token()}", 1))
            assert messages and messages[0]["type"] in ("status", "error")
        assert "rate-limit storage unreachable" in a.logs() + b.logs() or "falling back" in a.logs() + b.logs()
