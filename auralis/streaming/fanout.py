"""Fan-out: one writer, many readers, each with its own cursor over a bounded ring.

The writer (a render thread) :meth:`FanOut.publish`\\ es items (encoded chunks); every reader
sees every item, in order, as the *same object*: nothing is copied per reader and nothing is
read destructively, so a reader costs one small object (a cursor), whatever the item size.

**Bounded, like Icecast's queue-size.** The ring keeps the last ``capacity`` items. A reader
whose cursor falls more than ``capacity`` items behind the writer has lost data; its next read
raises :class:`ReaderDropped` (and it no longer counts as a reader). The writer never waits for
a reader and never looks at them, so a stuck reader slows no one.

**Threads and the event loop.** ``publish`` is called from any thread and never blocks: it
stores the item in the ring (readers read the ring without a lock: each slot holds
``(index, item)``, so a reader can tell an overwritten slot) and, when a reader is waiting,
wakes the waiting readers with one ``loop.call_soon_threadsafe`` per item (not one per reader).
Readers live on the event loop: ``await reader.next()`` (or ``async for``) returns the next item
or waits; :meth:`Reader.poll` never waits.

**Waking in batches, on a time budget.** Each waiting reader waits on a future of its own
(cancelling one reader touches no other). The wake-up resolves them a batch per turn of the event
loop: with a thousand listeners, the loop polls for I/O (an ``/api/metrics`` request, a ping)
between batches instead of running a thousand readers before it looks again. A reader woken in
one turn runs (reads, writes to its socket) in the next, so the batch is sized from the turn
before: the time from one batch to the next, over the readers the previous batch woke, is what a
reader costs now, and the next batch holds as many as fit in ``wake_budget_s`` (1 ms; between
`MIN_WAKE_BATCH` and `MAX_WAKE_BATCH`, starting from ``wake_batch``). Everything else that turn
ran (another fan-out's readers, a request) counts in it too, so the turns stay near the budget
whatever shares them, and a request waits a few short turns, not a few long ones.

**Stream header.** :attr:`FanOut.header` caches bytes that every late joiner must get before
the items (the Ogg Opus identification and comment pages, Icecast-style). The writer sets it
before it publishes the first item that needs it.

**End.** :meth:`FanOut.close` (optionally with the error that ended the source): readers get
the items still in the ring after their cursor, then :class:`SourceClosed` (with ``error``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["FanOut", "Reader", "ReaderDropped", "SourceClosed"]

#: Waiting readers woken in the first turn of the event loop after the first publish (later
#: batches are sized by the time budget).
WAKE_BATCH = 32
#: Time budget of one turn of the event loop while readers are woken, seconds.
WAKE_BUDGET_S = 0.001
#: Bounds of a batch sized by the budget: at least this many per turn, so the wake-up always
#: moves on, however long other work makes the turns ...
MIN_WAKE_BATCH = 4
#: ... and at most this many, whatever a quiet turn suggests.
MAX_WAKE_BATCH = 256


class ReaderDropped(Exception):
    """The reader fell more than the ring's capacity behind the writer and lost items."""

    def __init__(self, lag: int, capacity: int) -> None:
        super().__init__(f"reader fell {lag} items behind a ring of {capacity}; dropped")
        self.lag = lag
        self.capacity = capacity


class SourceClosed(Exception):
    """The writer closed the fan-out; ``error`` is what ended the source (None: a normal end)."""

    def __init__(self, error: BaseException | None = None) -> None:
        super().__init__("the source ended" if error is None else f"the source failed: {error!r}")
        self.error = error


class FanOut(Generic[T]):
    """A bounded ring of items published by one writer and read by many :class:`Reader`\\ s."""

    def __init__(
        self, capacity: int = 50, *, loop: asyncio.AbstractEventLoop | None = None,
        wake_batch: int = WAKE_BATCH, wake_budget_s: float | None = WAKE_BUDGET_S,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """``wake_budget_s`` None: every batch holds ``wake_batch`` readers (no time budget).
        ``clock`` times the turns (a test passes its own)."""
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        if isinstance(wake_batch, bool) or not isinstance(wake_batch, int) or wake_batch < 1:
            raise ValueError(f"wake_batch must be a positive integer, got {wake_batch!r}")
        if wake_budget_s is not None and not wake_budget_s > 0:
            raise ValueError(f"wake_budget_s must be positive or None, got {wake_budget_s!r}")
        self.capacity = capacity
        self.wake_batch = wake_batch  # the size of the next batch (adapted under a budget)
        self.wake_budget_s = wake_budget_s
        self._clock = clock
        self._last_batch: tuple[float, int] | None = None  # (when, readers woken) this wake-up
        self._ring: list[tuple[int, T] | None] = [None] * capacity
        self._head = 0  # index of the next item to publish (= items published so far)
        self._loop = loop  # the readers' loop (bound by the first reader that waits)
        self._waiters: list[asyncio.Future[None]] = []  # one per waiting reader (on the loop)
        self._wake_scheduled = False
        self._lock = threading.Lock()  # reader count, close, the waiter hand-over
        self._readers = 0
        self._closed = False
        self._error: BaseException | None = None
        self.header: bytes | None = None
        self.dropped_readers = 0  # readers dropped for falling behind

    # -- writer side (any thread) -------------------------------------------------------------
    def publish(self, item: T) -> int:
        """Append ``item`` for every reader; returns its index (-1: the fan-out is closed, the
        item is dropped, as a writer racing the close would expect). Never blocks on readers."""
        if self._closed:
            return -1
        i = self._head
        self._ring[i % self.capacity] = (i, item)
        self._head = i + 1  # after the slot: a reader that sees the new head sees the item
        self._signal()
        return i

    def set_header(self, header: bytes | None) -> None:
        """The bytes a new reader needs before any item (cached; see the module docstring)."""
        if header is not None and not isinstance(header, bytes):
            raise TypeError(f"header must be bytes or None, got {type(header).__name__}")
        self.header = header

    def close(self, error: BaseException | None = None) -> None:
        """End the source; readers drain what is left, then get :class:`SourceClosed`."""
        with self._lock:
            if self._closed:
                return
            self._error = error
            self._closed = True
        self._signal()

    # -- state ----------------------------------------------------------------------------------
    @property
    def published(self) -> int:
        """Items published so far (the index of the next one)."""
        return self._head

    @property
    def reader_count(self) -> int:
        return self._readers

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def error(self) -> BaseException | None:
        return self._error

    # -- readers --------------------------------------------------------------------------------
    def reader(self, *, backlog: int = 0) -> Reader[T]:
        """A new reader at the live point: its first item is the next one published, or, with
        ``backlog`` n, the last n items already in the ring (a start burst), if there are as many."""
        if (
            isinstance(backlog, bool)
            or not isinstance(backlog, int)
            or not 0 <= backlog <= self.capacity
        ):
            raise ValueError(
                f"backlog must be an integer within 0..{self.capacity}, got {backlog!r}"
            )
        with self._lock:
            if self._closed:
                raise SourceClosed(self._error)
            self._readers += 1
            head = self._head
        return Reader(self, max(0, head - backlog))

    def _release(self, dropped: bool) -> None:
        with self._lock:
            self._readers -= 1
            if dropped:
                self.dropped_readers += 1

    # -- waking readers -------------------------------------------------------------------------
    def _signal(self) -> None:
        loop = self._loop
        if loop is None or not self._waiters or self._wake_scheduled:
            return  # nobody waits (a reader checks the head before it waits, on the loop)
        self._wake_scheduled = True
        try:
            loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop is closed: no reader can be waiting on it any more
            self._wake_scheduled = False

    def _wake(self) -> None:
        """(on the loop) Wake every reader waiting now, a batch per turn of the loop; each
        re-checks the ring. Readers that wait again meanwhile wait for the next item."""
        self._wake_scheduled = False
        waiters, self._waiters = self._waiters, []
        self._last_batch = None
        self._wake_from(waiters, 0)

    def _wake_from(self, waiters: list[asyncio.Future[None]], start: int) -> None:
        if self.wake_budget_s is not None:
            now = self._clock()
            if self._last_batch is not None:
                self._size_batch(now - self._last_batch[0], self._last_batch[1])
            self._last_batch = (now, 0)
        end = start + self.wake_batch
        woken = 0
        for waiter in waiters[start:end]:
            if not waiter.done():
                waiter.set_result(None)
                woken += 1
        if end < len(waiters):
            if self._last_batch is not None:
                self._last_batch = (self._last_batch[0], woken)
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon(self._wake_from, waiters, end)

    def _size_batch(self, turn_s: float, woken: int) -> None:
        """The next batch, from the last turn: it ran the `woken` readers of the previous batch
        (and whatever else was ready) in `turn_s`."""
        if woken == 0 or self.wake_budget_s is None:
            return
        per_reader = max(turn_s, 1e-9) / woken
        size = int(self.wake_budget_s / per_reader)
        # at most double per turn: one quiet turn does not make the next one long
        self.wake_batch = max(MIN_WAKE_BATCH, min(MAX_WAKE_BATCH, 2 * self.wake_batch, size))

    def _wait_future(self) -> asyncio.Future[None]:
        """(on the loop) A future of the calling reader's own that the next publish or close
        resolves."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                raise RuntimeError("all readers of a fan-out must wait on the same event loop")
            # first waiter, or the old loop is gone (nobody can be waiting on it)
            self._loop, self._waiters, self._wake_scheduled = loop, [], False
        waiter = loop.create_future()
        self._waiters.append(waiter)
        return waiter


class Reader(Generic[T]):
    """One reader's cursor. Use from the event loop; close it (or use ``with``) when done."""

    __slots__ = ("__weakref__", "_cursor", "_fan", "_open")

    def __init__(self, fan: FanOut[T], cursor: int) -> None:
        self._fan = fan
        self._cursor = cursor  # index of the next item this reader gets
        self._open = True

    @property
    def header(self) -> bytes | None:
        """The fan-out's stream header (see :attr:`FanOut.header`)."""
        return self._fan.header

    @property
    def position(self) -> int:
        """Index of the next item this reader gets."""
        return self._cursor

    @property
    def lag(self) -> int:
        """Items published that this reader has not read yet."""
        return self._fan._head - self._cursor

    @property
    def closed(self) -> bool:
        return not self._open

    def poll(self) -> T | None:
        """The next item, or None if the reader is at the live point. Never waits.

        Raises :class:`ReaderDropped` once the reader fell past the ring, and
        :class:`SourceClosed` once the source ended and every remaining item was read."""
        if not self._open:
            raise RuntimeError("read from a closed reader")
        fan = self._fan
        c = self._cursor
        head = fan._head
        if c >= head:
            if fan._closed:
                self.close()
                raise SourceClosed(fan._error)
            return None
        lag = head - c
        if lag <= fan.capacity:
            slot = fan._ring[c % fan.capacity]
            if slot is not None and slot[0] == c:
                self._cursor = c + 1
                return slot[1]
            lag = fan._head - c  # overwritten between the two reads
        self._drop()
        raise ReaderDropped(lag, fan.capacity)

    async def next(self) -> T:
        """The next item, waiting for the writer if needed (see :meth:`poll` for the errors)."""
        while True:
            item = self.poll()
            if item is not None:
                return item
            waiter = self._fan._wait_future()
            # Look again now that the waiter is visible to the writer: an item published
            # between the first look and the waiter's creation did not wake anyone.
            item = self.poll()
            if item is not None:
                waiter.cancel()  # the wake-up skips it
                return item
            await waiter  # this reader's own: cancelling it cancels no other reader

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        try:
            while True:
                try:
                    yield await self.next()
                except SourceClosed as end:
                    if end.error is not None:
                        raise
                    return
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading (idempotent): the reader no longer counts."""
        if self._open:
            self._open = False
            self._fan._release(False)

    def _drop(self) -> None:
        if self._open:
            self._open = False
            self._fan._release(True)

    def __enter__(self) -> Reader[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
