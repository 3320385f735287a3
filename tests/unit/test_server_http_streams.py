"""ICY metadata interleaving (auralis.server.http_streams), parsed the way a player does."""

from __future__ import annotations

import asyncio
import time

from auralis.server.http_streams import IcyInterleaver, SendWatch, icy_block, stream_headers


def parse(stream: bytes, metaint: int) -> tuple[bytes, list[str]]:
    audio, titles, pos = b"", [], 0
    while pos < len(stream):
        audio += stream[pos : pos + metaint]
        pos += metaint
        if pos >= len(stream):
            break
        n = stream[pos] * 16
        meta = stream[pos + 1 : pos + 1 + n].rstrip(b"\0")
        if meta:
            titles.append(meta.decode())
        pos += 1 + n
    return audio, titles


def test_blocks_every_metaint_bytes_and_titles_only_on_change() -> None:
    icy = IcyInterleaver(100)
    audio = bytes(range(256)) * 4
    out = b""
    for k in range(0, len(audio), 70):
        title = "focus \u2014 D min7" if k < 500 else "focus \u2014 G 7"
        out += b"".join(icy.feed(audio[k : k + 70], title))
    got, titles = parse(out, 100)
    assert got == audio
    assert titles == ["StreamTitle='focus \u2014 D min7';", "StreamTitle='focus \u2014 G 7';"]


def test_block_format() -> None:
    assert icy_block(None) == b"\x00"
    block = icy_block("it's")
    assert block[0] * 16 == len(block) - 1 and b"'" not in block[14:-1].rstrip(b"\0")[:-2]


def test_headers() -> None:
    h = stream_headers("audio/ogg", "Auralis focus", "Steady \u2014 music", 16000)
    assert h["content-type"] == "audio/ogg" and h["cache-control"] == "no-cache"
    assert h["icy-metaint"] == "16000" and h["icy-name"] == "Auralis focus"
    h["icy-description"].encode("latin-1")  # header values stay latin-1
    assert "icy-metaint" not in stream_headers("audio/mpeg", "a", "b", None)


class _FakeListener:
    """What `SendWatch` uses of an `HttpListener`."""

    def __init__(self, send_timeout_s: float) -> None:
        self.send_timeout_s = send_timeout_s
        self.checked: list[float] = []
        self.started: float | None = None
        self.cut = False

    def check_send(self, now: float) -> None:
        self.checked.append(now)
        if self.started is not None and now - self.started > self.send_timeout_s:
            self.cut = True


def test_one_send_watch_per_loop_cuts_only_the_stuck_listener_and_ends_when_empty() -> None:
    async def main() -> None:
        watch = SendWatch.of_running_loop()
        assert SendWatch.of_running_loop() is watch  # one per event loop
        stuck, healthy = _FakeListener(0.1), _FakeListener(0.1)
        watch.add(stuck)  # type: ignore[arg-type]
        watch.add(healthy)  # type: ignore[arg-type]
        stuck.started = time.monotonic()  # its send never returns
        deadline = time.monotonic() + 5
        while not stuck.cut:
            assert time.monotonic() < deadline, "the stuck send was never cut"
            await asyncio.sleep(0.01)
        assert not healthy.cut and healthy.checked  # checked by the same timer, not cut
        watch.discard(stuck)  # type: ignore[arg-type]
        watch.discard(healthy)  # type: ignore[arg-type]
        n = len(healthy.checked)
        deadline = time.monotonic() + 5
        while SendWatch._by_loop.get(asyncio.get_running_loop()) is watch:
            assert time.monotonic() < deadline, "the watch outlived its listeners"
            await asyncio.sleep(0.01)
        assert len(healthy.checked) == n  # a listener gone is no longer checked

    asyncio.run(main())
