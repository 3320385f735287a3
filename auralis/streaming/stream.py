"""One listener's stream: a composer, a renderer and a ring buffer of chunks.

A stream is created by :meth:`auralis.streaming.engine.StreamEngine.open_stream` and rendered
by the engine's worker threads; the event loop only calls the non-blocking methods
(:meth:`ListenerStream.pop`, :meth:`ListenerStream.update_params`, the properties,
:meth:`ListenerStream.close`).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import deque
from typing import Any, Protocol

from auralis.audio.dither import TpdfDither
from auralis.audio.renderer import Renderer
from auralis.music.events import marker_chord, marker_section
from auralis.music.params import MusicParams
from auralis.music.timeline import Change, Timeline
from auralis.streaming import handover
from auralis.streaming.chunk import CHUNK_FRAMES, CHUNK_SECONDS, SAMPLE_RATE, Chunk
from auralis.streaming.encoders import Encoder


#: A playing stream whose next chunk to render will be taken within this many seconds renders
#: before any other stream's chunk or start (`ListenerStream._priority`): two periods, so the
#: chunk has a period of slack against a start already under way on every worker.
AT_RISK_S = 2 * CHUNK_SECONDS
#: A new stream waiting this long for its first chunks goes before playing streams at risk
#: (`ListenerStream._priority`): a crowd's starts on a busy machine take about this long.
START_PATIENCE_S = 1.0


class StreamHost(Protocol):
    """What a stream needs of the engine that renders it (`auralis.streaming.engine.StreamEngine`);
    the engine imports this module, so this module names the engine only through this protocol."""

    def _wake(self) -> None:
        """A chunk was popped or a fault injected: a worker may have work."""

    def _forget(self, stream: ListenerStream) -> None:
        """The stream closed: drop it and delete its synth."""

    def _new_renderer(self, stream: ListenerStream) -> Renderer:
        """A renderer for the stream (called by the worker holding it)."""

    def _hand_overs_wanted(self) -> bool:
        """Whether the chunk about to render hands the GIL over between its stages
        (`auralis.streaming.handover`)."""


class ListenerStream:
    """A listener's own, independent stream of chunks.

    The engine keeps ``lead_chunks`` chunks rendered ahead (never more than ``capacity``);
    popping a chunk makes room and wakes a worker. Chunks left in the buffer when the stream
    fails or closes can still be popped.
    """

    def __init__(
        self,
        engine: StreamHost,
        params: MusicParams,
        seed: int,
        *,
        lead_chunks: int = 3,
        capacity: int = 20,
        encoder: Encoder | None = None,
    ) -> None:
        from auralis.music.composer import Composer

        if not isinstance(params, MusicParams):
            raise TypeError(f"params must be MusicParams, got {type(params).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if not isinstance(capacity, int) or capacity < 2:
            raise ValueError(f"capacity must be an integer >= 2, got {capacity!r}")
        if not isinstance(lead_chunks, int) or not 1 <= lead_chunks <= capacity:
            raise ValueError(
                f"lead_chunks must be an integer within 1..{capacity}, got {lead_chunks!r}"
            )
        self._engine = engine
        self.seed = seed
        self.params = params  # latest requested
        self.lead_chunks = lead_chunks
        #: Whether `StreamEngine.open_stream` started this stream at a short lead (by headroom);
        #: such a stream takes the configured lead when a competing start comes.
        self.short_lead_granted = False
        self._capacity = capacity
        #: Encodes each chunk once, in the render thread (``Chunk.frame``); None: PCM only.
        self.encoder = encoder
        self._lock = threading.Lock()  # buffer, flags, parameter schedule
        self._compose_lock = threading.Lock()  # the composer (worker vs update_params)
        self._composer = Composer(params=params, seed=seed)
        self._composer_start = params
        self._renderer: Renderer | None = None
        self._dither = TpdfDither(seed)  # the 16-bit conversion's noise: same seed, same bytes
        self._buf: deque[Chunk] = deque()
        self._next_seq = 0
        self._chunk_params = params
        self._schedule: list[tuple[int, MusicParams]] = []  # (effective_seq, params)
        #: Every change at the beat the composer applies it (with the seed: the timeline renders replay).
        self._changes: list[Change] = []
        self._chord: str | None = None
        self._section = 0
        self._error: BaseException | None = None
        self._fault: BaseException | None = None
        self._encode_fault: BaseException | None = None
        self._closed = False
        self._rendering = False  # a worker holds this stream (engine lock guards it)
        self._group: Any = None  # set by the engine: the group that shares its SoundFont
        self._produced = 0
        self._played = False
        self._last_pop = 0.0
        self.overflows = 0
        self.created_at = time.time()
        self._created_mono = time.monotonic()

    # -- consumer side (event loop) ----------------------------------------------------------
    def pop(self) -> Chunk | None:
        """The oldest buffered chunk, or None when empty. Non-blocking, thread-safe."""
        with self._lock:
            if not self._buf:
                return None
            chunk = self._buf.popleft()
            self._played = True
            self._last_pop = time.monotonic()
        self._engine._wake()
        return chunk

    @property
    def depth(self) -> int:
        return len(self._buf)

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def error(self) -> BaseException | None:
        """The exception that stopped this stream's synthesis, if any."""
        return self._error

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def active(self) -> bool:
        return not self._closed and self._error is None

    @property
    def next_seq(self) -> int:
        """Seq of the next chunk to be rendered."""
        return self._next_seq

    @property
    def state(self) -> str:
        """'starting' before the first chunk exists; 'buffering' when fewer than 2 chunks are
        buffered after playing started (first pop); else 'playing'. 'closed' after close and
        'error' after a synthesis failure (chunks already buffered can still be popped)."""
        depth = len(self._buf)
        if self._closed:
            return "closed"
        if self._error is not None:
            return "error"
        if self._produced == 0:
            return "starting"
        if self._played and depth < 2:
            return "buffering"
        return "playing"

    def update_params(self, params: MusicParams) -> int:
        """Hand new parameters to the composer; returns the first chunk seq whose music
        follows them. Thread-safe; nothing is applied if ``params`` is not MusicParams."""
        if not isinstance(params, MusicParams):
            raise TypeError(f"params must be MusicParams, got {type(params).__name__}")
        with self._compose_lock:
            beat = self._composer.beat  # the change takes effect at this beat
            effective_time = self._composer.set_params(params)
            with self._lock:
                seq = int(math.floor(effective_time * SAMPLE_RATE + 0.5)) // CHUNK_FRAMES
                seq = max(seq, self._next_seq)
                self._schedule = [(s, p) for s, p in self._schedule if s < seq]
                self._schedule.append((seq, params))
                self.params = params
                if self._changes and self._changes[-1].beat == beat:  # the composer keeps the latest
                    self._changes.pop()
                self._changes.append(Change(beat, params, effective_time, seq))
        return seq

    def raise_lead(self, limit: int, *, all_at_once: bool = False) -> int:
        """Render one chunk further ahead (``all_at_once``: as far as ``limit``), up to ``limit``
        chunks (and the capacity); returns the lead now. For a listener whose chunk was due
        before it was rendered (a server underrun), or one at a short lead when a start comes
        that competes with it (`StreamEngine.open_stream`): each chunk of lead adds 100 ms of
        latency but as much slack for the render workers."""
        with self._lock:
            step = limit if all_at_once else self.lead_chunks + 1
            lead = max(self.lead_chunks, min(step, limit, self._capacity))
            grew = lead > self.lead_chunks
            self.lead_chunks = lead
        if grew:
            self._engine._wake()
        return lead

    @property
    def timeline(self) -> Timeline:
        """The seed and every parameter change at the beat it took effect (auralis.music.timeline):
        what an offline render needs to give this stream's music again."""
        with self._lock:
            return Timeline(self.seed, self._composer_start, tuple(self._changes))

    def inject_fault(self, exc: BaseException | None = None, *, stage: str = "render") -> None:
        """Test hook: make this stream's next synthesis (``stage="render"``) or encoding
        (``stage="encode"``) raise ``exc`` (default RuntimeError), exactly as a FluidSynth or
        codec failure would. The stream then stops with ``error`` set while every other stream
        goes on."""
        if stage not in ("render", "encode"):
            raise ValueError(f"stage must be 'render' or 'encode', got {stage!r}")
        fault = exc if exc is not None else RuntimeError(f"injected {stage} fault")
        if stage == "render":
            self._fault = fault
        else:
            self._encode_fault = fault
        self._engine._wake()

    def close(self) -> None:
        """Stop this stream and delete its synth (at once, or as soon as the worker rendering
        it finishes its chunk). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._engine._forget(self)
        if self.encoder is not None:
            self.encoder.close()

    # -- producer side (engine workers) ------------------------------------------------------
    def _wants_render(self) -> bool:
        return (
            not self._closed
            and self._error is None
            and not self._rendering
            and len(self._buf) < self.lead_chunks
        )

    def _priority(self, now: float) -> tuple[int, float]:
        """Lower renders first: the time the chunk to render now will be taken, if chunks go
        every period from the last pop: the earliest deadline first. Before its first pop a
        stream counts from one period after its creation: a playing stream's next chunk (a
        listener would hear the gap) goes before the first chunks of streams that arrived less
        than a period before it was due, and a new stream still gets its turn after waiting.

        A playing stream whose chunk will be taken within `AT_RISK_S` goes before every other
        (the first element): a crowd arriving together has its first chunks all due within a
        period or two, more starts than the workers finish in a playing stream's lead, and by
        deadline alone they would all go first and starve it (measured: a lone listener's
        stream underran 2-7 times in each of 6 runs when 19 others arrived 4 s after it at the
        short lead, and twice in 1 of 3 runs at lead 3; `bench/bench_crowd_leads.py`). Their
        starts are then a little later; a listener hears no gap. A new
        stream that has waited `START_PATIENCE_S` joins them (by deadline, so it goes first):
        with the workers overloaded the playing streams would be at risk all the time, and a
        new listener is never kept waiting longer than that for them."""
        if self._played:
            due = self._last_pop + (len(self._buf) + 1) * CHUNK_SECONDS
            return (0 if due - now < AT_RISK_S else 1, due)
        due = self._created_mono + (len(self._buf) + 2) * CHUNK_SECONDS
        return (0 if now - self._created_mono >= START_PATIENCE_S else 1, due)

    def _render_next(self) -> float:
        """Render and buffer the next chunk; returns its render time in ms. Runs in a worker."""
        if self._renderer is None:  # synth creation is set-up, not per-chunk synthesis time
            self._renderer = self._engine._new_renderer(self)
        t0 = time.perf_counter()
        if self._fault is not None:
            raise self._fault
        seq = self._next_seq
        end_time = (seq + 1) * CHUNK_FRAMES / SAMPLE_RATE
        with self._compose_lock:
            events = self._composer.events_until(end_time)
        for ev in events:
            if (chord := marker_chord(ev)) is not None:
                self._chord = chord
            elif (section := marker_section(ev)) is not None:
                self._section = section
        hand_over = self._engine._hand_overs_wanted()  # the GIL to the event loop between stages
        pcm = handover.render_pcm16(self._renderer, events, self._dither, hand_overs=hand_over)
        render_ms = (time.perf_counter() - t0) * 1000.0
        with self._lock:
            while self._schedule and self._schedule[0][0] <= seq:
                self._chunk_params = self._schedule.pop(0)[1]
            chunk = Chunk(
                seq=seq,
                timestamp=time.time(),
                pcm=pcm,
                render_ms=render_ms,
                chord=self._chord,
                section=self._section,
                params=self._chunk_params,
            )
            self._next_seq = seq + 1
        if self.encoder is not None:  # a failure here fails this stream, like a synth failure
            if self._encode_fault is not None:
                raise self._encode_fault
            chunk = dataclasses.replace(chunk, frame=self.encoder.encode(chunk))
            if hand_over:
                handover.hand_over()
        with self._lock:
            if self._closed:
                return render_ms
            if len(self._buf) >= self._capacity:  # forced: drop the oldest, count it
                self._buf.popleft()
                self.overflows += 1
            self._buf.append(chunk)
            self._produced += 1
        return render_ms

    def _fail(self, exc: BaseException) -> None:
        # kept for what it says; its traceback holds the worker's frames and so this stream (a
        # reference cycle that would keep the stream's buffers until a garbage collection)
        self._error = exc.with_traceback(None)
        self._release_renderer()
        if self.encoder is not None:
            self.encoder.close()

    def _release_renderer(self) -> None:
        renderer, self._renderer = self._renderer, None
        if renderer is not None:
            renderer.close()

    def __repr__(self) -> str:
        return (
            f"<ListenerStream seed={self.seed} seq={self._next_seq} depth={len(self._buf)} "
            f"state={self.state}>"
        )
