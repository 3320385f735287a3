"""Fan-out: cursors, the drop at the ring bound, identical bytes across readers, waking from a
writer thread, the end of a source, the cached header."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from auralis.streaming.fanout import FanOut, ReaderDropped, SourceClosed


def items(n: int, size: int = 1000) -> list[bytes]:
    return [os.urandom(size) for _ in range(n)]


def test_each_reader_has_its_own_cursor_and_gets_the_same_objects() -> None:
    fo: FanOut[bytes] = FanOut(8)
    data = items(6)
    a = fo.reader()
    fo.publish(data[0])
    fo.publish(data[1])
    b = fo.reader()  # joins at the live point
    for d in data[2:]:
        fo.publish(d)
    got_a = [a.poll() for _ in range(6)]
    assert a.poll() is None  # at the live point
    got_b = [b.poll() for _ in range(4)]
    assert all(x is y for x, y in zip(got_a, data))  # the very objects, never copies
    assert all(x is y for x, y in zip(got_b, data[2:]))
    assert b.poll() is None
    assert (a.position, b.position, fo.published) == (6, 6, 6)
    assert fo.reader_count == 2
    a.close()
    a.close()  # idempotent
    assert fo.reader_count == 1


def test_reading_is_not_destructive_and_backlog_starts_in_the_past() -> None:
    fo: FanOut[bytes] = FanOut(4)
    data = items(6)
    for d in data:
        fo.publish(d)
    late = fo.reader(backlog=3)
    assert [late.poll() for _ in range(3)] == data[3:]
    again = fo.reader(backlog=4)  # the ring still holds the last 4 for everyone
    assert [again.poll() for _ in range(4)] == data[2:]
    with pytest.raises(ValueError):
        fo.reader(backlog=5)


def test_a_reader_past_the_ring_is_dropped_and_the_others_go_on() -> None:
    fo: FanOut[bytes] = FanOut(5)
    stuck = fo.reader()
    healthy = fo.reader()
    data = items(6)
    got = []
    for d in data:
        fo.publish(d)
        got.append(healthy.poll())
    assert got == data
    assert stuck.lag == 6
    with pytest.raises(ReaderDropped) as info:
        stuck.poll()
    assert info.value.lag == 6 and info.value.capacity == 5
    assert stuck.closed
    assert fo.reader_count == 1 and fo.dropped_readers == 1
    # a reader exactly at the bound still gets everything
    edge = fo.reader()
    more = items(5)
    for d in more:
        fo.publish(d)
    assert [edge.poll() for _ in range(5)] == more


def test_the_writer_never_waits_for_a_stuck_reader() -> None:
    fo: FanOut[bytes] = FanOut(50)
    readers = [fo.reader() for _ in range(1000)]  # none of them ever reads
    payload = b"x" * 2000
    t0 = time.perf_counter()
    for _ in range(20_000):
        fo.publish(payload)
    per_item = (time.perf_counter() - t0) / 20_000
    # publishing does not touch readers: far below the 100 ms a chunk lasts
    assert per_item < 0.001
    assert all(r.lag == 20_000 for r in readers)
    with pytest.raises(ReaderDropped):
        readers[0].poll()


def test_async_readers_woken_by_a_writer_thread_get_identical_bytes() -> None:
    n_items, n_readers = 60, 200
    data = items(n_items, 2000)

    async def main() -> None:
        fo: FanOut[bytes] = FanOut(n_items + 5)
        readers = [fo.reader() for _ in range(n_readers)]
        slow = fo.reader()  # never reads

        async def consume(r):
            return [await r.next() for _ in range(n_items)]

        tasks = [asyncio.create_task(consume(r)) for r in readers]
        await asyncio.sleep(0)  # every reader is now waiting

        def write() -> None:
            for d in data:
                fo.publish(d)
                time.sleep(0.001)

        writer = threading.Thread(target=write)
        writer.start()
        results = await asyncio.wait_for(asyncio.gather(*tasks), 20)
        writer.join()
        for got in results:
            assert len(got) == n_items
            assert all(x is y for x, y in zip(got, data))
        assert slow.lag == n_items and not slow.closed

    asyncio.run(main())


def test_cancelling_one_waiting_reader_leaves_the_others_waiting() -> None:
    async def main() -> None:
        fo: FanOut[bytes] = FanOut(4)
        a, b = fo.reader(), fo.reader()
        ta = asyncio.create_task(a.next())
        tb = asyncio.create_task(b.next())
        await asyncio.sleep(0)
        ta.cancel()
        await asyncio.sleep(0)
        item = b"hello"
        threading.Thread(target=fo.publish, args=(item,)).start()
        assert await asyncio.wait_for(tb, 5) is item
        assert ta.cancelled()
        assert a.poll() is item  # the cancelled reader lost nothing either

    asyncio.run(main())


def test_waiting_readers_are_woken_a_batch_per_turn_of_the_loop() -> None:
    """Eight waiting readers, batches of three (no time budget): woken over three turns
    (3, 3, 2), so the loop polls for I/O between batches; every reader gets the item."""

    async def main() -> list[int]:
        fo: FanOut[bytes] = FanOut(4, wake_batch=3, wake_budget_s=None)
        turn = 0
        woken: list[int] = []

        async def read(r: object) -> None:
            assert await r.next() is item  # type: ignore[attr-defined]
            woken.append(turn)

        item = b"x"
        tasks = [asyncio.create_task(read(fo.reader())) for _ in range(8)]
        await asyncio.sleep(0)  # every reader waits
        fo.publish(item)
        for _ in range(20):
            await asyncio.sleep(0)  # one turn of the loop
            turn += 1
        await asyncio.gather(*tasks)
        return woken

    woken = asyncio.run(main())
    counts = [woken.count(t) for t in sorted(set(woken))]
    assert counts == [3, 3, 2], woken


def _turns_of_a_wake_up(readers: int, reader_cost: float, wake_batch: int) -> list[int]:
    """How many readers each turn of the loop ran after one publish, when every reader's run
    costs `reader_cost` on the fan-out's clock (a budget of 1.0)."""

    async def main() -> list[int]:
        now = [0.0]
        fo: FanOut[bytes] = FanOut(4, wake_batch=wake_batch, wake_budget_s=1.0, clock=lambda: now[0])
        turn = 0
        woken: list[int] = []

        async def read(r: object) -> None:
            assert await r.next() is item  # type: ignore[attr-defined]
            now[0] += reader_cost  # what the reader's write costs, in this turn
            woken.append(turn)

        item = b"x"
        tasks = [asyncio.create_task(read(fo.reader())) for _ in range(readers)]
        await asyncio.sleep(0)
        fo.publish(item)
        for _ in range(readers + 5):
            await asyncio.sleep(0)
            turn += 1
        await asyncio.gather(*tasks)
        return woken

    woken = asyncio.run(main())
    return [woken.count(t) for t in sorted(set(woken))]


def test_batches_are_sized_so_a_turn_of_the_loop_takes_the_time_budget() -> None:
    """Readers that cost 1/16 of the budget each: the batch grows from 4 (at most doubling per
    turn) to the 16 that fit in the budget, and stays there."""
    assert _turns_of_a_wake_up(64, 1 / 16, 4) == [4, 8, 16, 16, 16, 4]


def test_batches_shrink_when_readers_are_slow_but_never_below_the_minimum() -> None:
    """Readers that cost half the budget each: the batch shrinks from 32 to the minimum of 4
    (so the wake-up still moves on), and every reader gets the item."""
    assert _turns_of_a_wake_up(48, 1 / 2, 32) == [32, 4, 4, 4, 4]


def test_close_with_error_drains_then_raises_and_async_for_ends_on_a_clean_close() -> None:
    async def main() -> None:
        fo: FanOut[bytes] = FanOut(8)
        r = fo.reader()
        clean = fo.reader()
        data = items(3)
        for d in data:
            fo.publish(d)
        boom = RuntimeError("synth died")
        fo.close(boom)
        assert [await r.next() for _ in range(3)] == data
        with pytest.raises(SourceClosed) as info:
            await r.next()
        assert info.value.error is boom
        assert fo.reader_count == 1
        with pytest.raises(SourceClosed):
            fo.reader()
        assert fo.publish(b"late") == -1 and fo.published == 3  # dropped
        with pytest.raises(SourceClosed):
            [x async for x in clean]

        fo2: FanOut[bytes] = FanOut(8)
        r2 = fo2.reader()
        fo2.publish(data[0])

        def later() -> None:
            time.sleep(0.05)
            fo2.publish(data[1])
            fo2.close()

        threading.Thread(target=later).start()
        got = await asyncio.wait_for(_collect(r2), 5)
        assert got == data[:2]
        assert fo2.reader_count == 0

    asyncio.run(main())


async def _collect(r):
    return [x async for x in r]


def test_the_header_is_cached_for_late_joiners() -> None:
    fo: FanOut[bytes] = FanOut(4)
    assert fo.reader().header is None
    fo.set_header(b"OggS-ident+comment")
    for d in items(10):
        fo.publish(d)
    late = fo.reader()
    assert late.header == b"OggS-ident+comment"
    with pytest.raises(TypeError):
        fo.set_header("text")  # type: ignore[arg-type]


def test_readers_on_a_new_loop_after_the_old_one_closed() -> None:
    fo: FanOut[bytes] = FanOut(4)
    r = fo.reader()

    async def next_item():
        return await asyncio.wait_for(r.next(), 5)

    for word in (b"one", b"two"):  # each asyncio.run is a new loop
        threading.Timer(0.05, fo.publish, args=(word,)).start()
        assert asyncio.run(next_item()) is word


def test_bad_arguments_are_refused() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            FanOut(bad)  # type: ignore[arg-type]
    r = FanOut(2).reader()
    r.close()
    with pytest.raises(RuntimeError):
        r.poll()
