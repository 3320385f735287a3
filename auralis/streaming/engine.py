"""The stream engine: every listener stream of the process, rendered by a small worker pool.

**Why a pool, not a thread per stream.** Rendering is CPU-bound and ctypes releases the GIL
inside FluidSynth, so the useful parallelism is the number of cores; 100 threads for 100
listeners would only add context switches, 100 stacks and unfair scheduling (the OS knows
nothing about which stream is about to underrun). ``workers`` threads (default: the CPU count)
share one scheduler that always renders the stream in most need: the earliest deadline, the
time the chunk to render will be taken if chunks go every 100 ms from the stream's last pop
(from a period after its creation before the first pop), so fewer buffered chunks and a longer
wait both come first, a playing stream's next chunk is not put behind the first chunks of a
crowd of new streams, and a new stream is not starved by playing ones; a playing stream whose next
chunk will be taken within two periods goes before all of them (a crowd's starts, all due at once,
would otherwise take every worker for longer than its lead). A stream is rendered when it holds fewer
than its ``lead_chunks`` chunks and never while its buffer is full; one worker at a time owns a
stream, so its synth is used by one thread at a time.

**Render lead by measured headroom.** `open_stream` with a ``short_lead`` starts the stream at
that lead when the workers' measured load leaves room for it, else at ``lead_chunks``
(`auralis.streaming.headroom`: the workers' busy share, a chunk's and a start's measured cost,
and the work waiting now, counted under the engine's lock together with the registration, so
streams arriving together each see the starts before them). A stream that starts at the
configured lead raises every stream that was granted a shorter one to that lead at once: its start
(synth creation and first chunk, tens of ms) is work the short-lead streams have only ~100 ms
of slack against, so a crowd arriving after a lone listener does not starve that listener.

**Shared SoundFont memory.** The engine keeps one idle "anchor" synth with the SoundFont
loaded for its whole life, so FluidSynth's sample cache always holds the samples and every
stream's synth (which loads the same file) shares them instead of loading them again. Stream
synths are created lazily by a worker, off the event loop.

**Palettes.** At start the engine lists the SoundFont's programs: a program a palette needs
and the font lacks is named in the log, and :meth:`StreamEngine.palette_refusal` says why such a
palette is refused (the server refuses it before any stream plays it); the others work.

**Faults.** Any exception while a stream renders (including creating its synth) is stored in
that stream's ``error``, its synth is deleted and the stream stops; the workers and all other
streams go on.

**Shutdown.** :meth:`StreamEngine.close` stops the workers (each finishes at most one chunk,
a few ms), joins them with a bound, closes every stream and deletes every synth exactly once.
Workers are daemon threads and an ``atexit`` hook closes forgotten engines, so a process never
hangs at exit.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from auralis.audio.fluid import FluidSynth
from auralis.audio.renderer import RenderConfig, Renderer, check_palettes
from auralis.audio.soundfont import (
    SoundFontError,
    bank0_programs,
    check_soundfont_file,
    missing_by_palette,
    program_label,
)
from auralis.audio.stereo import check_stereo_image
from auralis.music.palettes import PALETTES
from auralis.music.params import MusicParams
from auralis.streaming import handover
from auralis.streaming.chunk import CHUNK_SECONDS
from auralis.streaming.encoders import Encoder
from auralis.streaming.headroom import Backlog, RenderLoad, short_lead_allowed, usable_cores
from auralis.streaming.stream import ListenerStream
from auralis.streaming.shared_soundfont import load_anchor  # noqa: I001

log = logging.getLogger("auralis.streaming")

__all__ = ["ListenerStream", "StreamEngine", "StreamLimitReached"]


class StreamLimitReached(RuntimeError):
    """`open_stream` with a `limit`: that many streams are already active."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} personal streams already play")
        self.limit = limit

_engines: weakref.WeakSet[StreamEngine] = weakref.WeakSet()


class StreamEngine:
    """All listener streams of a process (see the module docstring)."""

    def __init__(
        self,
        soundfont: str | os.PathLike[str],
        *,
        workers: int | None = None,
        on_render: Callable[[float], None] | None = None,
        config: RenderConfig = RenderConfig(),
        join_timeout_s: float = 5.0,
        short_lead_max_load: float = 0.0,
    ) -> None:
        self.soundfont = Path(soundfont)
        self.config = config
        self.on_render = on_render
        self._join_timeout = join_timeout_s
        n = workers if workers is not None else (os.cpu_count() or 2)
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.workers = n
        if not 0.0 <= short_lead_max_load <= 1.0:
            raise ValueError(f"short_lead_max_load must be within 0..1, got {short_lead_max_load!r}")
        #: The most projected render load at which `open_stream` grants a ``short_lead``.
        self.short_lead_max_load = short_lead_max_load
        #: The workers' measured busy intervals (`auralis.streaming.headroom`).
        self.load = RenderLoad(capacity=min(n, usable_cores()))
        check_soundfont_file(self.soundfont)  # a precise SoundFontError for a wrong file
        #: palettes the SoundFont cannot play -> the programs it lacks
        self.missing_programs: dict[str, tuple[int, ...]] = missing_by_palette(
            bank0_programs(self.soundfont)
        )
        for name, programs in self.missing_programs.items():
            log.warning(
                "SoundFont %s lacks %s: palette %r is refused",
                self.soundfont, ", ".join(program_label(p) for p in programs), name,
            )
        # refuse an anti-phase mix before any stream starts (ValueError saying why)
        check_stereo_image(self.soundfont, config.synth_settings(), config.voices)
        # and every palette it can play (cached: streams switching palettes build no test synth)
        check_palettes(self.soundfont, config, [n for n in PALETTES if n not in self.missing_programs])
        # One group per worker: each loads the SoundFont once into an idle anchor synth, and
        # the synths of the group's streams share that one fluid_sfont_t.
        self._groups: list[_Group] = []
        try:
            for _ in range(n):
                self._groups.append(self._new_group())
        except BaseException:
            for g in self._groups:
                g.anchor.close()
            raise
        self._anchor = self._groups[0].anchor
        self._cond = threading.Condition()
        self._streams: list[ListenerStream] = []
        self._stopping = False
        self._closed = False
        self.stream_failures = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"auralis-render-{i}", daemon=True)
            for i in range(n)
        ]
        for t in self._threads:
            t.start()
        _engines.add(self)

    # -- public ------------------------------------------------------------------------------
    def open_stream(
        self,
        params: MusicParams,
        seed: int,
        *,
        lead_chunks: int = 3,
        capacity: int = 20,
        encoder: Encoder | None = None,
        limit: int | None = None,
        short_lead: int | None = None,
    ) -> ListenerStream:
        """A new stream; rendering starts at once (its synth is created by a worker). With an
        ``encoder``, each chunk also carries its wire frame, encoded by the worker. With a
        ``limit``, raises `StreamLimitReached` (changing nothing) when that many streams are
        already active: the check and the registration are one step under the engine's lock.
        With a ``short_lead`` (below ``lead_chunks``), the stream starts at that lead when the
        workers have measured headroom for it (`auralis.streaming.headroom`), decided in that
        same step; its ``lead_chunks`` says which it got."""
        if short_lead is not None and (not isinstance(short_lead, int) or not 1 <= short_lead):
            raise ValueError(f"short_lead must be a positive integer, got {short_lead!r}")
        if self._closed:
            raise RuntimeError("the stream engine is closed")
        refusal = self.palette_refusal(params.palette)
        if refusal is not None:
            raise ValueError(refusal)
        self._check_limit(limit)  # a refused listener costs no composer
        stream = ListenerStream(
            self, params, seed, lead_chunks=lead_chunks, capacity=capacity, encoder=encoder
        )
        with self._cond:
            self._check_limit(limit)  # again, atomically with the registration
            if short_lead is not None and short_lead < stream.lead_chunks and short_lead_allowed(
                self.load.measured(),
                self._backlog(),
                capacity=self.load.capacity,
                period_s=CHUNK_SECONDS,
                max_load=self.short_lead_max_load,
            ):
                stream.lead_chunks = short_lead
                stream.short_lead_granted = True
                exposed = []
            else:
                # A start the short lead was refused to (load, or another start under way) is
                # work that competes with every stream; one at a short lead has ~100 ms of slack
                # against it, so it takes this stream's lead before the start does.
                exposed = [
                    s for s in self._streams
                    if s.active and s.short_lead_granted and s.lead_chunks < stream.lead_chunks
                ]
            group = min(self._groups, key=lambda g: g.members)
            group.members += 1
            stream._group = group
            self._streams.append(stream)
            self._cond.notify()
        for other in exposed:  # outside the engine's lock: raise_lead takes the stream's
            other.raise_lead(stream.lead_chunks, all_at_once=True)
        return stream

    def palette_refusal(self, palette: str) -> str | None:
        """Why ``palette`` cannot play with this SoundFont (naming the programs), or None."""
        missing = self.missing_programs.get(palette)
        if not missing:
            return None
        return (
            f"palette {palette!r} needs {', '.join(program_label(p) for p in missing)}, which the "
            f"SoundFont {self.soundfont.name} lacks"
        )

    @property
    def active_streams(self) -> int:
        with self._cond:
            return self._active_count()

    def _active_count(self) -> int:
        """Active streams; the caller holds ``self._cond``."""
        return sum(1 for s in self._streams if s.active)

    def _backlog(self) -> Backlog:
        """Render work waiting now; the caller holds ``self._cond``."""
        active = [s for s in self._streams if s.active]
        starting = [s for s in active if s._renderer is None]
        missing = sum(max(0, s.lead_chunks - s.depth) for s in active if s._renderer is not None)
        return Backlog(streams=len(active), starting=len(starting), missing_chunks=missing)

    def _check_limit(self, limit: int | None) -> None:
        with self._cond:  # re-entrant: a Condition over an RLock
            if limit is not None and self._active_count() >= limit:
                raise StreamLimitReached(limit)

    @property
    def streams(self) -> list[ListenerStream]:
        with self._cond:
            return list(self._streams)

    def min_depth(self) -> int:
        """The smallest buffer depth over active streams (0 when there are none)."""
        with self._cond:
            depths = [s.depth for s in self._streams if s.active]
        return min(depths) if depths else 0

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop everything, join the workers, delete every synth once. Idempotent; bounded."""
        with self._cond:
            if self._closed:
                return
            self._closed = self._stopping = True
            self._cond.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(self._join_timeout)
        alive = any(t.is_alive() for t in self._threads if t is not threading.current_thread())
        with self._cond:
            # a stream closed from another thread may be deleting its synth right now
            self._cond.wait_for(
                lambda: not any(g.busy for g in self._groups),
                timeout=0.0 if alive else self._join_timeout,
            )
            streams, self._streams = self._streams, []
            for s in streams:
                with s._lock:
                    s._closed = True
            # a group still busy has a stuck worker: its synths (and the SoundFont they
            # share) are left for the OS to reclaim rather than freed under that worker
            stuck = [g for g in self._groups if g.busy]
            doomed = [self._take_renderer(s) for s in streams if not s._group.busy]
            for g in self._groups:
                if not g.busy:
                    doomed += g.pending
                    g.pending = []
        if stuck:
            log.error("a render worker is stuck; leaving its synths for the OS to reclaim")
        for r in doomed:
            if r is not None:
                r.close()
        for g in self._groups:  # owners last
            if g not in stuck:
                g.anchor.close()

    def __enter__(self) -> StreamEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals used by ListenerStream ----------------------------------------------------
    def _new_group(self) -> _Group:
        return _Group(*load_anchor(self.soundfont, self.config))

    def _new_renderer(self, stream: ListenerStream) -> Renderer:
        """Called by the worker holding ``stream``'s group."""
        g = stream._group
        return Renderer(
            self.soundfont, self.config, share_from=(g.anchor, g.sfont_id), palette=stream.params.palette
        )

    def _hand_overs_wanted(self) -> bool:
        """Hand-overs while the render threads' measured busy share leaves room
        (`auralis.streaming.handover`)."""
        return handover.wanted(self.load.measured().busy_share)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    @staticmethod
    def _take_renderer(stream: ListenerStream) -> Renderer | None:
        """(engine lock held) Detach the stream's renderer for deletion."""
        r, stream._renderer = stream._renderer, None
        return r

    def _forget(self, stream: ListenerStream) -> None:
        """Drop a closed stream; its synth is deleted while its group is held: here when the
        group is idle, else by the worker holding it (before it lets the group go)."""
        with self._cond:
            if stream in self._streams:
                self._streams.remove(stream)
                stream._group.members -= 1
            if stream._rendering:
                return  # the worker rendering it deletes the synth when it finishes the chunk
            r = self._take_renderer(stream)
            if r is None:
                return
            group = stream._group
            if group.busy or self._closed:
                group.pending.append(r)
                return
            group.busy = True
        try:
            r.close()
        finally:
            with self._cond:
                group.busy = False
                self._cond.notify()

    # -- workers -----------------------------------------------------------------------------
    def _pick(self) -> ListenerStream | None:
        best = None
        best_key = None
        now = time.monotonic()
        for s in self._streams:
            if not s._group.busy and s._wants_render():
                key = s._priority(now)
                if best_key is None or key < best_key:
                    best, best_key = s, key
        return best

    def _work(self) -> None:
        cond = self._cond
        while True:
            with cond:
                stream = None
                while not self._stopping:
                    stream = self._pick()
                    if stream is not None:
                        stream._rendering = True
                        stream._group.busy = True
                        break
                    cond.wait(0.5)
                if stream is None:
                    return
            group = stream._group
            ms = None
            starting = stream._renderer is None
            t0 = time.perf_counter()
            try:
                ms = stream._render_next()
            except BaseException as exc:  # noqa: BLE001 - isolate any failure to its stream
                if not stream._closed:  # closed while it rendered (its encoder closed under it): no failure
                    log.warning("stream seed=%s failed: %r", stream.seed, exc)
                    stream._fail(exc)
                    with cond:
                        self.stream_failures += 1
            with cond:
                stream._rendering = False
                doomed = [self._take_renderer(stream)] if stream._closed else []
            # still holding the group: delete this stream's synth if it was closed meanwhile,
            # and those of its group closed while the group was busy
            while True:
                for r in doomed:
                    if r is not None:
                        r.close()
                with cond:
                    doomed, group.pending = group.pending, []
                    if not doomed:
                        group.busy = False
                        cond.notify_all()
                        break
            if ms is not None:  # the worker's busy time on it, encoding included: the headroom's input
                self.load.record(time.perf_counter() - t0, start=starting)
            if ms is not None and self.on_render is not None:
                try:
                    self.on_render(ms)
                except Exception:  # a metrics callback must not stop the audio
                    log.exception("on_render callback failed")


class _Group:
    """Streams whose synths share one loaded SoundFont. FluidSynth updates plain (non-atomic)
    counters inside a SoundFont while synths play, select presets or are deleted (sample
    reference counts in fluid_voice_init/fluid_voice_off, preset_count on program select), so
    at most one thread at a time uses any synth of a group: ``busy`` (engine lock) is held for
    every render, synth creation and deletion of the group."""

    __slots__ = ("anchor", "sfont_id", "busy", "members", "pending")

    def __init__(self, anchor: FluidSynth, sfont_id: int) -> None:
        self.anchor = anchor
        self.sfont_id = sfont_id
        self.busy = False
        self.members = 0
        self.pending: list[Renderer] = []


@atexit.register
def _close_all_engines() -> None:
    for engine in list(_engines):
        try:
            engine.close()
        except Exception:
            pass
