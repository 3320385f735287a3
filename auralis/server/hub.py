"""The server's live state: the SoundFont and stream engine, and the connected listeners.

The SoundFont is found, validated and loaded in a background thread, so HTTP answers at once;
`/api/status` shows `soundfont_loaded: false` until it is ready (or for good, if it failed).
The hub is also the monitor's `StatusProbe`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from starlette import status

from auralis.monitoring.board import WorkerBoard
from auralis.monitoring.metrics import Monitor
from auralis.server.settings import Settings
from auralis.streaming.encoders import (
    OPUS_INSTALL,
    Encoder,
    EncoderSettings,
    make_encoder,
    opus_unavailable_reason,
)

log = logging.getLogger("auralis.server")


class Listener(Protocol):
    """What the hub needs of a connected listener (`auralis.server.session.ListenerSession`)."""

    client_id: str
    stream: Any
    finished: asyncio.Event

    def request_close(self, code: int, reason: str, *, flush: bool = True, goodbye: bool = False) -> None: ...

    def abort(self) -> None: ...


#: Threads of the loop's default executor: Python's own default size, started at once.
EXECUTOR_THREADS = min(32, (os.cpu_count() or 1) + 4)


def _start_every_thread(executor: ThreadPoolExecutor, n: int) -> None:
    """Make `executor` start all `n` of its threads now (each task waits until all n run)."""
    barrier = threading.Barrier(n)
    for future in [executor.submit(barrier.wait, 10) for _ in range(n)]:
        future.result()


class Hub:
    """Engine lifecycle, the session registry and the live figures of `/api/status`."""

    def __init__(self, settings: Settings, *, board: WorkerBoard | None = None) -> None:
        self.settings = settings
        self.monitor = Monitor(
            self,
            device="CPU",  # FluidSynth renders on the CPU; no stage runs on an accelerator
            window_samples=settings.metrics_window_samples,
            window_age_s=settings.metrics_window_s,
            board=board,  # one worker of several: figures shared, answers for all
        )
        #: Every listener: WebSocket sessions (personal and station) and HTTP audio streams.
        self.sessions: set[Listener] = set()
        self.stations: Any = None  # auralis.server.stations.StationService, set by the app
        self.timelines: Any = None  # auralis.server.timelines.SessionTimelines, set by the app
        self.engine: Any = None
        self.load_error: str | None = None
        self.encoder_settings = EncoderSettings(
            opus_bitrate_kbps=settings.opus_bitrate_kbps, opus_complexity=settings.opus_complexity
        )
        #: Why format=opus is refused here (the Opus library is missing), or None. Checked when
        #: the app is built (importing PyAV takes ~0.1 s), not in `start` on the running loop.
        self.opus_unavailable: str | None = opus_unavailable_reason()
        self._loaded = asyncio.Event()  # set when loading finished, either way
        self._stopping = False
        self._lock = threading.Lock()
        self._loader: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Begin loading the SoundFont in a background thread (returns at once)."""
        loop = asyncio.get_running_loop()
        if self.opus_unavailable is not None:
            log.error(
                "opus unavailable: format=opus is refused, json and pcm work",
                extra={"event": "opus_unavailable", "error": self.opus_unavailable, "install": OPUS_INSTALL},
            )
        self._loaded = asyncio.Event()
        # The loop's default executor (streams open there) at its full size from the start, so the
        # thread count is fixed once the server is up instead of growing with bursts of listeners.
        executor = ThreadPoolExecutor(max_workers=EXECUTOR_THREADS, thread_name_prefix="auralis-io")
        loop.set_default_executor(executor)
        self._loader = threading.Thread(
            target=self._load, args=(loop, executor), name="auralis-soundfont", daemon=True
        )
        self._loader.start()

    def _load(self, loop: asyncio.AbstractEventLoop, executor: ThreadPoolExecutor) -> None:
        started = time.perf_counter()
        try:
            _start_every_thread(executor, EXECUTOR_THREADS)
            self._load_engine(started)
        finally:
            try:
                loop.call_soon_threadsafe(self._loaded.set)
            except RuntimeError:
                pass  # the loop is gone: the server is shutting down

    def _load_engine(self, started: float) -> None:
        from auralis.audio.soundfont import find_soundfont, validate_soundfont
        from auralis.streaming.engine import StreamEngine

        try:
            path = find_soundfont(self.settings.soundfont)
            # The engine first: its anchor synth keeps the samples in FluidSynth's cache, so the
            # validation's synth shares them instead of loading (and fragmenting) a second copy.
            engine = StreamEngine(
                path,
                workers=self.settings.render_workers,
                on_render=self.monitor.observe_synthesis,
                short_lead_max_load=self.settings.lead_short_max_load,
            )
            try:
                info = validate_soundfont(path, programs=engine.config.programs)
            except BaseException:
                engine.close()
                raise
        except Exception as exc:  # any failure leaves HTTP up and tells listeners why
            message = str(exc) or exc.__class__.__name__
            with self._lock:
                self.load_error = message
            log.error("soundfont load failed", extra={"event": "soundfont_failed", "error": message})
            return
        with self._lock:
            stopping = self._stopping
            if not stopping:
                self.engine = engine
        if stopping:
            engine.close()
            return
        log.info(
            "soundfont loaded",
            extra={
                "event": "soundfont_loaded",
                "path": str(info.path),
                "soundfont_name": info.name,
                "load_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )

    def new_encoder(self, fmt: str) -> Encoder:
        """A stream's encoder for ``fmt`` with this server's settings."""
        return make_encoder(fmt, self.encoder_settings)

    async def wait_loaded(self, timeout: float) -> bool:
        """Wait for the SoundFont; True when the engine is ready."""
        try:
            await asyncio.wait_for(self._loaded.wait(), timeout)
        except TimeoutError:
            return False
        return self.engine is not None

    async def close_sessions(self, code: int, reason: str, grace_s: float) -> None:
        """Tell every listener goodbye with `code` and wait up to `grace_s` for them to finish."""
        self._stopping = True
        sessions = list(self.sessions)
        if not sessions:
            return
        log.info("closing listeners", extra={"event": "closing_listeners", "count": len(sessions), "code": code})
        for s in sessions:
            s.request_close(code, reason, goodbye=True)
        done = [asyncio.ensure_future(s.finished.wait()) for s in sessions]
        _, pending = await asyncio.wait(done, timeout=grace_s)
        for fut in pending:
            fut.cancel()
        for s in sessions:
            if not s.finished.is_set():
                s.abort()

    async def stop(self) -> None:
        """Close the listeners (1001) and the engine; idempotent."""
        await self.close_sessions(status.WS_1001_GOING_AWAY, "server shutting down", self.settings.shutdown_grace_s)
        with self._lock:
            self._stopping = True
            engine, self.engine = self.engine, None
        if engine is not None:
            await asyncio.to_thread(engine.close)
            log.info("engine closed", extra={"event": "engine_closed"})

    @property
    def stopping(self) -> bool:
        return self._stopping

    # --- StatusProbe -------------------------------------------------------------------------

    def active_connections(self) -> int:
        return len(self.sessions)

    def stream_count(self) -> int:
        """Listeners with a personal stream (whose depth `buffer_depth` reports)."""
        return sum(1 for s in list(self.sessions) if s.stream is not None)

    def buffer_depth(self) -> int:
        depths = [s.stream.depth for s in list(self.sessions) if s.stream is not None]
        return min(depths) if depths else 0

    def soundfont_loaded(self) -> bool:
        """The SoundFont is loaded, and the stations (which load it on their own render thread
        right after) have started too, so "loaded" means ready for every kind of listener."""
        stations = self.stations
        return self.engine is not None and (stations is None or stations.settled)

    def synthesis_active(self) -> bool:
        """True while the engine is up and a listener's stream or a station renders without failure."""
        engine = self.engine
        if engine is None or engine.closed:
            return False
        if any(s.stream is not None and s.stream.error is None for s in list(self.sessions)):
            return True
        stations = getattr(self.stations, "hub", None)  # a running station renders too
        return stations is not None and any(st.state == "running" for st in stations)
