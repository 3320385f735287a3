"""The outbox: frames leave in order as they were queued (text as text, bytes as bytes), the
slow-client bound refuses frames beyond it, and closing sends what was queued first."""

from __future__ import annotations

import asyncio

import pytest

from auralis.server.outbox import Outbox, websocket_send


class Wire:
    def __init__(self, fail_after: int | None = None) -> None:
        self.frames: list[str | bytes] = []
        self.fail_after = fail_after

    async def send(self, frame: str | bytes) -> None:
        if self.fail_after is not None and len(self.frames) >= self.fail_after:
            raise OSError("connection reset")
        self.frames.append(frame)


def test_text_and_binary_frames_leave_in_order_unchanged() -> None:
    async def main() -> list[str | bytes]:
        wire = Wire()
        box = Outbox(wire.send, audio_limit=8)
        frames = ['{"type":"status"}', b"AUR2\x01\x02", '{"type":"pong"}', b"\x00" * 10]
        for i, f in enumerate(frames):
            assert box.put(f, audio=isinstance(f, bytes))
        box.close()
        await asyncio.wait_for(box.run(), 2)
        assert box.queued == 0 and box.queued_audio == 0 and not box.send_failed
        return wire.frames

    sent = asyncio.run(main())
    assert sent == ['{"type":"status"}', b"AUR2\x01\x02", '{"type":"pong"}', b"\x00" * 10]
    assert [type(f) for f in sent] == [str, bytes, str, bytes]


def test_audio_bound_refuses_frames_beyond_it() -> None:
    async def main() -> None:
        box = Outbox(Wire().send, audio_limit=3, control_backlog=2)
        assert all(box.put(b"a", audio=True) for _ in range(3))
        assert box.queued_audio == 3
        assert not box.put(b"a", audio=True)  # the fourth audio frame: too slow
        assert not box.put("control")  # at the audio bound every frame is refused
        assert box.queued == 3

    asyncio.run(main())


def test_control_backlog_bound() -> None:
    async def main() -> None:
        box = Outbox(Wire().send, audio_limit=3, control_backlog=2)
        assert all(box.put("c") for _ in range(5))  # audio_limit + control_backlog frames in all
        assert not box.put("c")
        assert box.queued == 5 and box.queued_audio == 0

    asyncio.run(main())


def test_writer_frees_the_bound_as_it_sends() -> None:
    async def main() -> list[str | bytes]:
        wire = Wire()
        box = Outbox(wire.send, audio_limit=2)
        writer = asyncio.create_task(box.run())
        for i in range(10):  # never more than 2 waiting, since the writer keeps up
            assert box.put(str(i), audio=True)
            await asyncio.sleep(0)
        box.close()
        await asyncio.wait_for(writer, 2)
        return wire.frames

    assert asyncio.run(main()) == [str(i) for i in range(10)]


def test_close_sends_queued_frames_first_and_ignores_later_ones() -> None:
    async def main() -> list[str | bytes]:
        wire = Wire()
        box = Outbox(wire.send, audio_limit=1)
        box.put(b"x", audio=True)
        box.put_final("goodbye")  # past the bound: a goodbye always fits
        box.close()
        assert box.closed
        assert box.put("late")  # ignored, not refused
        box.put_final("late too")
        await asyncio.wait_for(box.run(), 2)
        return wire.frames

    assert asyncio.run(main()) == [b"x", "goodbye"]


def test_failed_send_stops_the_writer_and_is_recorded() -> None:
    async def main() -> tuple[bool, list[str | bytes]]:
        wire = Wire(fail_after=1)
        box = Outbox(wire.send, audio_limit=4)
        for f in ("a", "b", "c"):
            box.put(f)
        await asyncio.wait_for(box.run(), 2)  # returns on the failure, without the close marker
        return box.send_failed, wire.frames

    assert asyncio.run(main()) == (True, ["a"])


def test_drain_sends_up_to_the_close_marker() -> None:
    async def main() -> list[str | bytes]:
        wire = Wire()
        box = Outbox(wire.send, audio_limit=4)
        box.put_final('{"type":"error"}')
        box.close()
        await box.drain(1.0)
        return wire.frames

    assert asyncio.run(main()) == ['{"type":"error"}']


def test_drain_gives_up_on_a_send_that_does_not_finish() -> None:
    async def main() -> bool:
        async def stuck(frame: str | bytes) -> None:
            await asyncio.sleep(10)

        box = Outbox(stuck, audio_limit=4)
        box.put("a")
        box.put("b")
        await box.drain(0.05)
        return box.send_failed

    assert asyncio.run(main()) is True


def test_websocket_send_picks_the_frame_type() -> None:
    class FakeWS:
        def __init__(self) -> None:
            self.calls: list[tuple[str, object]] = []

        async def send_text(self, text: str) -> None:
            self.calls.append(("text", text))

        async def send_bytes(self, data: bytes) -> None:
            self.calls.append(("bytes", data))

    ws = FakeWS()
    send = websocket_send(ws)

    async def main() -> None:
        await send("hi")
        await send(b"\x01")

    asyncio.run(main())
    assert ws.calls == [("text", "hi"), ("bytes", b"\x01")]


def test_refuses_what_is_not_a_frame() -> None:
    async def main() -> None:
        box = Outbox(Wire().send, audio_limit=2)
        with pytest.raises(TypeError):
            box.put({"type": "audio"})  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            Outbox(Wire().send, audio_limit=0)

    asyncio.run(main())
