"""Rate limits (auralis.server.ratelimit): rates, the per-connection message guard, the
per-IP connection limiter in memory. The Redis path runs against a real redis-server in
tests/integration/test_production_ratelimit.py."""

from __future__ import annotations

import asyncio

import pytest

from auralis.server.ratelimit import (
    ConnectionRateLimiter,
    MessageRateLimiter,
    describe,
    parse_rate,
)
from auralis.server.settings import Settings


def test_rates_parse_and_describe():
    assert describe(parse_rate("10/minute", "X")) == "10 per minute"
    assert describe(parse_rate("5 per 10 seconds", "X")) == "5 per 10 seconds"
    with pytest.raises(ValueError, match="AURALIS_RATE_LIMIT_STATUS must be a rate"):
        parse_rate("ten a minute", "AURALIS_RATE_LIMIT_STATUS")


def test_settings_refuse_a_bad_rate_and_production_fault_injection():
    with pytest.raises(ValueError, match="AURALIS_WS_MESSAGE_RATE"):
        Settings(ws_message_rate="lots")
    with pytest.raises(ValueError, match="cannot be enabled in production"):
        Settings(env="production", fault_injection=True)
    s = Settings(allowed_hosts="a.example, b.example", allowed_origins="https://a.example")
    assert s.allowed_hosts == ["a.example", "b.example"] and s.allowed_origins == ["https://a.example"]


def test_message_guard_allows_the_rate_then_notifies_once_then_closes_a_flood():
    limiter = MessageRateLimiter(parse_rate("10/second", "X"), drops_before_close="20/minute")
    guard = limiter.guard()
    verdicts = [guard.hit() for _ in range(10 + 25)]
    assert all(v.allowed for v in verdicts[:10])
    dropped = verdicts[10:]
    assert not any(v.allowed for v in dropped)
    # one notice for the first drop, none for the next 19, then the close (with its notice)
    assert [v.notify for v in dropped[:20]] == [True] + [False] * 19
    assert not any(v.close for v in dropped[:20])
    assert dropped[20].close and dropped[20].notify
    assert "closing" in dropped[20].message and "10 per second" in dropped[0].message


def test_message_guards_are_independent_and_released():
    limiter = MessageRateLimiter(parse_rate("3/second", "X"))
    a, b = limiter.guard(), limiter.guard()
    assert [a.hit().allowed for _ in range(4)] == [True, True, True, False]
    assert [b.hit().allowed for _ in range(3)] == [True, True, True]  # a's flood costs b nothing
    a.release()
    assert a.hit().allowed  # released counters start afresh


def test_connection_limiter_per_ip_in_memory():
    async def scenario() -> tuple[list[str | None], str | None]:
        limiter = ConnectionRateLimiter(parse_rate("3/minute", "X"))
        first = [await limiter.hit("10.0.0.1") for _ in range(4)]
        return first, await limiter.hit("10.0.0.2")

    first, other = asyncio.run(scenario())
    assert first[:3] == [None, None, None]
    assert first[3] is not None and "3 per minute" in first[3] and "10.0.0.1" in first[3]
    assert other is None


def test_ipv6_clients_limited_by_their_64():
    async def scenario() -> list[str | None]:
        limiter = ConnectionRateLimiter(parse_rate("1/minute", "X"))
        return [
            await limiter.hit("2001:db8:1:2::1"),
            await limiter.hit("2001:db8:1:2:ffff::9"),  # another address, the same /64
            await limiter.hit("2001:db8:1:3::1"),  # the next /64
        ]

    first, same_64, next_64 = asyncio.run(scenario())
    assert first is None and next_64 is None
    assert same_64 is not None and "2001:db8:1:2::/64" in same_64


def test_http_limiter_keys_ipv6_by_64():
    from starlette.requests import Request

    from auralis.server.ratelimit import client_address_key

    def request(host: str) -> Request:
        return Request({"type": "http", "client": (host, 1234), "headers": [], "method": "GET", "path": "/"})

    assert client_address_key(request("2001:db8::1")) == client_address_key(request("2001:db8::abcd:1"))
    assert client_address_key(request("2001:db8::1")) == "2001:db8::/64"
    assert client_address_key(request("192.0.2.7")) == "192.0.2.7"
