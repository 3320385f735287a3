"""Stations: named shared sources, each one score + one renderer + one encoder per format in use.

A :class:`Stations` hub holds every station of the process. Its render thread(s) each own one
loaded SoundFont (an anchor synth) and the renderers of their stations, which borrow it, so one
thread uses all the synths sharing a SoundFont (FluidSynth's rule; see
``auralis.streaming.engine``). A station is rendered on the station clock
(:mod:`auralis.streaming.station_score`): chunk ``k`` is rendered at most ``lead_chunks`` chunks
before its wall time, encoded once per format in use, and published to that format's
:class:`~auralis.streaming.fanout.FanOut` as a :class:`Packet`, the same object for every
listener. These threads are separate from the listener engine's workers: a station is paced by
the wall clock, not pulled by a listener's buffer.

**Life.** A station starts with its first listener (:meth:`Stations.listen`), or at once if it
is always on; it stops after ``idle_s`` without listeners. Starting composes the score up to
``preroll_chunks`` before the live chunk and renders that pre-roll silently, so notes already
ringing at the join sound as they do for every other instance. A format's encoder lives while
the format has readers. A failure (synth, encoder) ends that station only: its readers get
:class:`~auralis.streaming.fanout.SourceClosed` with the error, and the next listener restarts
it; other stations go on.

**Operators.** :meth:`Stations.set_params` schedules a change at a station time (by default the
first chunk not yet composed, so it sounds from the next beat on, within ~2 s); the change is
part of the station's score, so every instance given the same change plays the same notes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from auralis.audio.dither import TpdfDither
from auralis.audio.fluid import FluidSynth
from auralis.audio.renderer import RenderConfig, Renderer
from auralis.audio.soundfont import check_soundfont_file
from auralis.music.params import MusicParams
from auralis.streaming import handover
from auralis.streaming.chunk import CHUNK_FRAMES, Chunk
from auralis.streaming.fanout import FanOut, Reader
from auralis.streaming.shared_soundfont import load_anchor
from auralis.streaming.station_score import (
    ChunkScore,
    ParamChange,
    Score,
    ScoreCursor,
    StationClock,
    chunk_time,
)
from auralis.streaming.station_specs import DEFAULT_IDLE_S, StationSpec

log = logging.getLogger("auralis.streaming.stations")

__all__ = [
    "Encoder",
    "EncoderFactory",
    "NowPlaying",
    "Packet",
    "PcmPassthrough",
    "Station",
    "Stations",
    "UnknownFormat",
    "UnknownStation",
]


class Encoder(Protocol):
    """One format's encoder for one station run, called by the render thread only: the
    interface of ``auralis.streaming.encoders.Encoder``.

    ``encode`` gets each :class:`~auralis.streaming.chunk.Chunk` in order (``seq`` is the
    station chunk index, ``pcm`` 100 ms of 44.1 kHz stereo int16) and returns its wire bytes
    (or text, for JSON). ``header`` (optional attribute): bytes a new listener needs before
    any chunk (Ogg header pages), read once after the encoder is created and its first chunk
    encoded. ``close()`` (optional) frees it."""

    def encode(self, chunk: Chunk) -> bytes | str: ...


EncoderFactory = Callable[[], Encoder]


class PcmPassthrough:
    """Raw PCM: the chunk's int16 PCM itself (the same bytes object, not a copy)."""

    header: bytes | None = None

    def encode(self, chunk: Chunk) -> bytes:
        return chunk.pcm


class UnknownStation(KeyError):
    """No station has this name."""

    def __init__(self, name: object) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown station {self.name!r}"


class UnknownFormat(ValueError):
    """The hub has no encoder for this format."""


@dataclass(frozen=True, slots=True)
class Packet:
    """One encoded chunk of a station, shared by every listener of its format."""

    index: int  # station chunk index: the chunk starts at station time index x 0.1 s
    timestamp: float  # time.time() when the chunk was synthesised
    wall_time: float  # time.time() at which the chunk is due to play (the station clock)
    data: bytes | str  # the encoded chunk (str: a JSON text frame)
    chord: str | None
    section: int
    params: MusicParams


@dataclass(frozen=True, slots=True)
class NowPlaying:
    index: int
    chord: str | None
    section: int
    segment: int
    params: MusicParams


class Station:
    """A named shared source. Create through :class:`Stations`; use its methods from the event
    loop (they never block on rendering)."""

    def __init__(self, spec: StationSpec, hub: Stations) -> None:
        self.spec = spec
        self.name = spec.name
        self.score = Score(spec.params, spec.seed, segment_chunks=spec.segment_chunks)
        self.always_on = hub.always_on if spec.always_on is None else spec.always_on
        self.idle_s = hub.idle_s if spec.idle_s is None else spec.idle_s
        self._hub = hub
        self._lock = threading.Lock()
        self._fanouts: dict[str, FanOut[Packet]] = {}
        self.state = "idle"  # idle | starting | running | failed
        self.error: BaseException | None = None
        self.failures = 0
        self.starts = 0
        self.chunks_rendered = 0
        self.render_seconds = 0.0  # synthesis wall time, summed (measured per chunk)
        self.now: NowPlaying | None = None
        self._fault: BaseException | None = None
        self._idle_since: float | None = None
        # Owned by the render thread:
        self._cursor: ScoreCursor | None = None
        self._renderer: Renderer | None = None
        self._dither: TpdfDither | None = None
        self._encoders: dict[str, Encoder] = {}
        self._offset_s = 0.0  # station time of the renderer's frame 0

    # -- event-loop side ------------------------------------------------------------------------
    @property
    def params(self) -> MusicParams:
        """The station's setting: the latest change's parameters (the spec's if none). What
        the chunk being rendered follows is ``now.params``."""
        changes = self.score.changes
        return changes[-1].params if changes else self.score.base_params

    @property
    def description(self) -> str:
        return self.spec.description

    def listeners(self) -> dict[str, int]:
        """Readers per format."""
        with self._lock:
            return {fmt: fo.reader_count for fmt, fo in self._fanouts.items()}

    @property
    def listener_count(self) -> int:
        return sum(self.listeners().values())

    def listen(self, fmt: str = "pcm", *, backlog: int = 0) -> Reader[Packet]:
        """A reader of this station's ``fmt`` packets from the live point (see FanOut.reader);
        starts the station (or restarts it after a failure)."""
        if fmt not in self._hub.encoders:
            raise UnknownFormat(
                f"format must be one of {', '.join(sorted(self._hub.encoders))}, got {fmt!r}"
            )
        with self._lock:
            if self._hub.closed or not self._hub._threads:
                raise RuntimeError("the stations are closed or not started")
            fo = self._fanouts.get(fmt)
            if fo is None:
                fo = self._fanouts[fmt] = FanOut(self._hub.ring_chunks)
            reader = fo.reader(backlog=backlog)
            self._idle_since = None
            if self.state in ("idle", "failed"):
                self.state = "starting"
        self._hub._wake()
        return reader

    def set_params(self, params: MusicParams, at: float | None = None) -> ParamChange:
        """Schedule ``params`` at station time ``at`` (default: the first chunk not yet
        composed here); returns the change, to pass to other instances. Nothing is applied if
        ``params`` or ``at`` is invalid."""
        if not isinstance(params, MusicParams):
            raise TypeError(f"params must be MusicParams, got {type(params).__name__}")
        if at is None:
            at = chunk_time(self.first_free_chunk())
        change = self.score.schedule(at, params)
        self._hub._wake()
        return change

    def first_free_chunk(self, lead_chunks: int = 1) -> int:
        """The first chunk a change can still reach before it is composed here: at least
        ``lead_chunks`` after the one playing now, and not yet composed."""
        cursor = self._cursor
        return max(
            self._hub.clock.current_chunk() + lead_chunks,
            cursor.next_chunk if cursor is not None else 0,
        )

    def inject_fault(self, exc: BaseException | None = None) -> None:
        """Test hook: the next chunk's synthesis raises ``exc`` (default RuntimeError), as a
        FluidSynth failure would."""
        self._fault = exc if exc is not None else RuntimeError("injected synthesis fault")

    # -- render-thread side ---------------------------------------------------------------------
    def _service(self, now_chunk: int, anchor: tuple[FluidSynth, int]) -> None:
        """Start, render due chunks, or stop when idle. Any exception fails this station."""
        hub = self._hub
        with self._lock:
            state = self.state
            if state == "idle" and self.always_on:
                state = self.state = "starting"
        if state == "starting":
            self._start(now_chunk, anchor)
        elif state != "running":
            return
        if self._prune_formats() == 0 and not self.always_on:
            now = time.monotonic()
            with self._lock:
                if self._idle_since is None:
                    self._idle_since = now
                if now - self._idle_since >= self.idle_s and not any(
                    f.reader_count for f in self._fanouts.values()
                ):
                    self._stop_locked()
                    return
        assert self._cursor is not None
        if self._cursor.next_chunk < now_chunk - hub.max_late_chunks:
            self._skip_to(now_chunk)
        cursor = self._cursor
        while cursor.next_chunk <= now_chunk + hub.lead_chunks and not hub._stopping:
            self._render_one()

    def _start(self, now_chunk: int, anchor: tuple[FluidSynth, int]) -> None:
        hub = self._hub
        self._release()
        self._renderer = Renderer(hub.soundfont, hub.config, share_from=anchor)
        self._dither = TpdfDither(self.spec.seed)  # the 16-bit conversion's noise, seeded
        first = now_chunk - hub.preroll_chunks
        self._cursor = self.score.cursor(first)
        self._offset_s = chunk_time(first)
        for _ in range(hub.preroll_chunks):  # rendered and discarded
            cs = self._cursor.advance()
            self._renderer.render(self._renderer_events(cs.events), CHUNK_FRAMES)
        with self._lock:
            self.state = "running"
            self.error = None
            self.starts += 1
        log.info("station %s started at chunk %d", self.name, now_chunk)

    def _skip_to(self, k: int) -> None:
        """Overload: jump to chunk ``k`` (notes restart there) instead of rendering the past."""
        assert self._cursor is not None and self._renderer is not None
        skipped = k - self._cursor.next_chunk
        log.warning("station %s is %d chunks late; skipping to the live chunk", self.name, skipped)
        self._renderer.release_all()
        self._offset_s += chunk_time(k) - chunk_time(self._cursor.next_chunk)
        self._cursor = self.score.cursor(k)

    def _renderer_events(self, events: Iterable[Any]) -> list[Any]:
        off = self._offset_s
        return [replace(ev, time=ev.time - off) for ev in events]

    def _render_one(self) -> None:
        hub = self._hub
        cursor, renderer = self._cursor, self._renderer
        assert cursor is not None and renderer is not None
        t0 = time.perf_counter()
        if self._fault is not None:
            fault, self._fault = self._fault, None
            raise fault
        cs = cursor.advance()
        # the GIL to the event loop between stages, always: a station serves many listeners
        pcm = handover.render_pcm16(renderer, self._renderer_events(cs.events), self._dither, hand_overs=True)
        elapsed = time.perf_counter() - t0
        self.render_seconds += elapsed
        self.chunks_rendered += 1
        if hub.on_render is not None:
            try:
                hub.on_render(elapsed * 1000.0)
            except Exception:  # a metrics callback must not stop the audio
                log.exception("on_render callback failed")
        stamp = time.time()
        due = hub.clock.wall_time(cs.index)
        chunk = Chunk(cs.index, stamp, pcm, elapsed * 1000.0, cs.chord, cs.section, cs.params)
        with self._lock:
            fanouts = list(self._fanouts.items())
        for fmt, fo in fanouts:
            enc = self._encoders.get(fmt)
            fresh = enc is None
            if enc is None:
                enc = self._encoders[fmt] = hub.encoders[fmt]()
            data = enc.encode(chunk)
            handover.hand_over()
            if fresh:  # before the first packet: a reader reads it after its first packet
                fo.set_header(getattr(enc, "header", None))
            fo.publish(Packet(cs.index, stamp, due, data, cs.chord, cs.section, cs.params))
        self.now = NowPlaying(cs.index, cs.chord, cs.section, cs.segment, cs.params)
        if cs.index % self.score.segment_chunks == 0:  # a new segment: older changes are done
            self.score.forget_before(chunk_time(cs.index))
        if hub.on_chunk is not None:
            try:
                hub.on_chunk(self, cs)
            except Exception:
                log.exception("on_chunk callback failed")

    def _prune_formats(self) -> int:
        """Drop formats without readers (their encoders too); returns the readers left."""
        doomed = []
        with self._lock:
            for fmt, fo in list(self._fanouts.items()):
                if fo.reader_count == 0:
                    del self._fanouts[fmt]
                    fo.close()
                    doomed.append(fmt)
            total = sum(fo.reader_count for fo in self._fanouts.values())
            if total:
                self._idle_since = None
        for fmt in doomed:
            self._close_encoder(fmt)
        return total

    def _close_encoder(self, fmt: str) -> None:
        enc = self._encoders.pop(fmt, None)
        close = getattr(enc, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                log.exception("station %s: closing the %s encoder failed", self.name, fmt)

    def _stop_locked(self) -> None:
        """(station lock held) Idle: stop rendering; the next listener starts it again."""
        self.state = "idle"
        self._idle_since = None
        fanouts, self._fanouts = self._fanouts, {}
        for fo in fanouts.values():
            fo.close()
        log.info("station %s stopped (idle)", self.name)
        self._release()

    def _fail(self, exc: BaseException) -> None:
        log.warning("station %s failed: %r", self.name, exc)
        with self._lock:
            self.state = "failed"
            self.error = exc
            self.failures += 1
            fanouts, self._fanouts = self._fanouts, {}
        for fo in fanouts.values():
            fo.close(exc)
        self._release()

    def _shutdown(self) -> None:
        with self._lock:
            self.state = "idle"
            fanouts, self._fanouts = self._fanouts, {}
        for fo in fanouts.values():
            fo.close()
        self._release()

    def _release(self) -> None:
        """(render thread) Free the renderer and encoders."""
        renderer, self._renderer = self._renderer, None
        self._cursor = None
        for fmt in list(self._encoders):
            self._close_encoder(fmt)
        if renderer is not None:
            renderer.close()

    def __repr__(self) -> str:
        return f"<Station {self.name} state={self.state} listeners={self.listener_count}>"


class Stations:
    """Every station of a process and the thread(s) that render them. See the module docstring.

    ``encoders`` maps format names to encoder factories (default: ``pcm`` only);
    ``always_on`` and ``idle_s`` are the defaults for stations that do not set their own.
    ``on_render(ms)`` gets each live chunk's synthesis time; ``on_chunk(station, chunk_score)``
    gets what each live chunk plays (events in station seconds, chord, section, parameters).
    Both are called by the render thread and must be quick.
    """

    def __init__(
        self,
        specs: Iterable[StationSpec],
        soundfont: str | Path,
        *,
        encoders: Mapping[str, EncoderFactory] | None = None,
        config: RenderConfig = RenderConfig(),
        clock: StationClock | None = None,
        lead_chunks: int = 3,
        ring_chunks: int = 50,
        preroll_chunks: int = 20,
        max_late_chunks: int = 10,
        idle_s: float = DEFAULT_IDLE_S,
        always_on: bool = False,
        threads: int = 1,
        on_render: Callable[[float], None] | None = None,
        on_chunk: Callable[[Station, ChunkScore], None] | None = None,
        join_timeout_s: float = 5.0,
    ) -> None:
        for label, value, lo in (
            ("lead_chunks", lead_chunks, 1),
            ("ring_chunks", ring_chunks, 2),
            ("preroll_chunks", preroll_chunks, 0),
            ("max_late_chunks", max_late_chunks, 1),
            ("threads", threads, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise ValueError(f"{label} must be an integer >= {lo}, got {value!r}")
        if (
            isinstance(idle_s, bool)
            or not isinstance(idle_s, (int, float))
            or not 0 <= idle_s < math.inf
        ):
            raise ValueError(f"idle_s must be a non-negative number of seconds, got {idle_s!r}")
        self.soundfont = Path(soundfont)
        check_soundfont_file(self.soundfont)
        self.encoders: dict[str, EncoderFactory] = (
            dict(encoders) if encoders is not None else {"pcm": PcmPassthrough}
        )
        self.config = config
        self.clock = clock if clock is not None else StationClock()
        self.lead_chunks = lead_chunks
        self.ring_chunks = ring_chunks
        self.preroll_chunks = preroll_chunks
        self.max_late_chunks = max_late_chunks
        self.idle_s = float(idle_s)
        self.always_on = always_on
        self.on_render = on_render
        self.on_chunk = on_chunk
        self._join_timeout = join_timeout_s
        self._stations: dict[str, Station] = {}
        for spec in specs:
            if spec.name in self._stations:
                raise ValueError(f"station {spec.name!r} is defined twice")
            self._stations[spec.name] = Station(spec, self)
        self._n_threads = threads
        self._threads: list[threading.Thread] = []
        self._wakes: list[threading.Event] = []
        self._stopping = False
        self.closed = False
        self.thread_cpu_s: list[float] = [0.0] * threads  # CPU time of each render thread

    # -- lookup ---------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Station:
        try:
            return self._stations[name]
        except (KeyError, TypeError):
            raise UnknownStation(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._stations

    def __iter__(self) -> Iterator[Station]:
        return iter(list(self._stations.values()))

    def __len__(self) -> int:
        return len(self._stations)

    @property
    def names(self) -> list[str]:
        return list(self._stations)

    # -- listeners and operators ----------------------------------------------------------------
    def listen(self, name: str, fmt: str = "pcm", *, backlog: int = 0) -> Reader[Packet]:
        """A reader of station ``name`` (UnknownStation, UnknownFormat); see Station.listen."""
        return self[name].listen(fmt, backlog=backlog)

    def set_params(self, name: str, params: MusicParams, at: float | None = None) -> ParamChange:
        """An operator change (see Station.set_params)."""
        return self[name].set_params(params, at)

    # -- life -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the render thread(s); each loads the SoundFont once (blocking: seconds at most)."""
        if self._threads or self.closed:
            raise RuntimeError("the stations are already started or closed")
        ready: list[threading.Event] = []
        errors: list[BaseException] = []
        stations = list(self._stations.values())
        for i in range(self._n_threads):
            wake, done = threading.Event(), threading.Event()
            mine = stations[i :: self._n_threads]
            t = threading.Thread(
                target=self._work,
                args=(i, mine, wake, done, errors),
                name=f"auralis-station-{i}",
                daemon=True,
            )
            self._threads.append(t)
            self._wakes.append(wake)
            ready.append(done)
            t.start()
        for done in ready:
            done.wait()
        if errors:
            self.close()
            raise errors[0]

    def _wake(self) -> None:
        for w in self._wakes:
            w.set()

    def close(self) -> None:
        """Stop the threads (each ends its current chunk), end every station; idempotent."""
        if self.closed:
            return
        self.closed = self._stopping = True
        self._wake()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(self._join_timeout)
        for st in self._stations.values():
            with st._lock:
                fanouts, st._fanouts = st._fanouts, {}
            for fo in fanouts.values():
                fo.close()

    def __enter__(self) -> Stations:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _work(
        self,
        i: int,
        stations: list[Station],
        wake: threading.Event,
        ready: threading.Event,
        errors: list[BaseException],
    ) -> None:
        try:
            anchor = load_anchor(self.soundfont, self.config)
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            errors.append(exc)
            ready.set()
            return
        ready.set()
        clock = self.clock
        try:
            while not self._stopping:
                cpu0 = time.thread_time()
                now = clock.current_chunk()
                for st in stations:
                    try:
                        st._service(now, anchor)
                    except Exception as exc:  # noqa: BLE001 - isolate any failure to its station
                        st._fail(exc)
                    if self._stopping:
                        break
                self.thread_cpu_s[i] += time.thread_time() - cpu0
                # Sleep to the next chunk boundary, or until a listener or change arrives.
                delay = chunk_time(clock.current_chunk() + 1) - clock.now()
                wake.wait(min(max(delay, 0.0), 0.1) + 0.001)
                wake.clear()
        finally:
            for st in stations:
                try:
                    st._shutdown()
                except Exception:
                    log.exception("station %s: shutdown failed", st.name)
            anchor[0].close()
