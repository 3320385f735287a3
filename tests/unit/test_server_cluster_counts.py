"""Listener counts across instances (auralis.server.cluster_counts): entries from other instances
are checked, stale ones stop counting and are forgotten. A stand-in link plays Redis's part here;
tests/integration/test_cluster.py runs the real one."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from auralis.server.cluster_counts import FORGET_AFTER_S, KEY, ClusterCounts, LocalCounts, parse_entry


@pytest.mark.parametrize(
    "raw",
    ["", "null", "[]", '{"at": 1}', '{"at": "x", "open": 1}', '{"at": 1, "open": -1}', '{"at": 1, "open": true}'],
)
def test_malformed_entries_are_refused(raw):
    assert parse_entry(raw) is None


def test_an_entry_keeps_only_valid_counts():
    e = parse_entry(json.dumps({"at": 5, "open": 2, "stations": {"focus": {"ws_pcm": 2, "http_ogg": -3, "x": "y"}, "bad": 1}}))
    assert e is not None and e.open == 2 and e.stations == {"focus": {"ws_pcm": 2}}


class FakeRedis:
    def __init__(self, stored: dict):
        self.stored = stored
        self.deleted: list = []

    def pipeline(self, transaction: bool = False):
        outer = self

        class Pipe:
            async def __aenter__(self):
                self.ops = []
                return self

            async def __aexit__(self, *exc):
                return False

            def hset(self, key, field, value):
                assert key == KEY
                self.ops.append(("hset", field, value))

            def hgetall(self, key):
                self.ops.append(("hgetall",))

            async def execute(self):
                out = []
                for op in self.ops:
                    if op[0] == "hset":
                        outer.stored[op[1].encode()] = op[2].encode()
                        out.append(1)
                    else:
                        out.append(dict(outer.stored))
                return out

        return Pipe()

    async def hdel(self, key, *fields):
        self.deleted += fields
        for f in fields:
            self.stored.pop(f, None)


class FakeLink:
    def __init__(self, redis):
        self.redis = redis

    async def call(self, fn):
        return await fn(self.redis)


def test_a_beat_writes_this_instance_and_reads_the_live_others():
    now = time.time()
    stored = {
        b"b": json.dumps({"at": now - 0.5, "open": 4, "stations": {"focus": {"ws_pcm": 3, "http_ogg": 1}}}).encode(),
        b"c": json.dumps({"at": now - 10, "open": 9}).encode(),  # silent for 10 s: died
        b"d": json.dumps({"at": now - FORGET_AFTER_S - 1, "open": 1}).encode(),  # long gone
        b"e": b"garbage",
    }
    redis = FakeRedis(stored)
    local = LocalCounts(open=lambda: 2, stations=lambda: {("focus", "ws_pcm"): 2, ("focus", "http_mp3"): 0})
    counts = ClusterCounts(FakeLink(redis), "a", local, stale_s=3.0)  # type: ignore[arg-type]
    asyncio.run(counts.beat())
    mine = json.loads(stored[b"a"])
    assert mine["open"] == 2 and mine["stations"] == {"focus": {"ws_pcm": 2}}
    assert set(counts.others()) == {"b"} and counts.elsewhere_total() == 4
    assert counts.station_elsewhere("focus") == {"ws_pcm": 3, "http_ogg": 1}
    assert sorted(redis.deleted) == [b"d", b"e"]  # the stale-but-recent "c" is kept (it may return)
