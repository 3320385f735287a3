"""The server's stations: the `Stations` hub of this process, its encoders, and who listens how.

`StationService` creates the hub (`auralis.streaming.stations`) from the settings once the
SoundFont is loaded, hands it one encoder factory per format (the WebSocket formats through
`make_encoder`, plus Ogg Opus and MP3 for the HTTP streams: each runs only while the format has
a listener), and closes it with the app. Transports join a station with `listen()`, which also
counts the listener by station and transport for `/api/stations`, `/api/status` and
Prometheus (`auralis_station_listeners`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auralis.monitoring.metrics import Monitor
from auralis.server.settings import Settings
from auralis.streaming.encoders import FORMATS, EncoderSettings, make_encoder
from auralis.streaming.fanout import Reader
from auralis.streaming.mp3 import Mp3Encoder
from auralis.streaming.ogg import OggOpusEncoder
from auralis.streaming.stations import Packet, Station, Stations, UnknownStation

log = logging.getLogger("auralis.server.stations")

#: HTTP stream formats: file extension -> content type.
HTTP_FORMATS = {"ogg": "audio/ogg", "mp3": "audio/mpeg"}
WS_FORMATS = FORMATS  # json, pcm, opus
TRANSPORTS = tuple(f"ws_{f}" for f in WS_FORMATS) + tuple(f"http_{f}" for f in HTTP_FORMATS)


async def _in_own_thread(fn: Callable[[], None]) -> None:
    """Run a one-off blocking call in a thread of its own (not the default executor, whose
    threads would stay for good for a call made once)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            loop.call_soon_threadsafe(lambda: done.done() or done.set_exception(exc))
        else:
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))

    threading.Thread(target=run, name="auralis-stations-start", daemon=True).start()
    await done


class StationsUnavailable(RuntimeError):
    """The stations are not running (SoundFont still loading or failed, or shutting down)."""


class Listening:
    """One listener's hold on a station: its reader, counted under its transport until closed."""

    def __init__(self, service: StationService, station: Station, transport: str, reader: Reader[Packet]) -> None:
        self.station = station
        self.transport = transport
        self.reader = reader
        self._service = service
        self._open = True

    def close(self) -> None:
        if self._open:
            self._open = False
            self.reader.close()
            self._service._count[(self.station.name, self.transport)] -= 1


class StationService:
    def __init__(self, settings: Settings, monitor: Monitor) -> None:
        self.settings = settings
        self.specs = settings.station_specs()
        self.monitor = monitor
        self.hub: Stations | None = None
        self.error: str | None = None
        self._ready = asyncio.Event()
        self._count: Counter[tuple[str, str]] = Counter()
        self.encoder_settings = EncoderSettings(
            opus_bitrate_kbps=settings.opus_bitrate_kbps, opus_complexity=settings.opus_complexity
        )
        monitor.add_listener_counts(self.listener_counts)

    # --- life ----------------------------------------------------------------------------------

    def encoders(self) -> dict[str, Callable[[], Any]]:
        """One factory per format; a station creates an encoder when a format gets its first
        listener and closes it with the last (so the MP3 encoder runs only for MP3 listeners)."""
        es = self.encoder_settings

        def ws(fmt: str) -> Callable[[], Any]:
            return lambda: make_encoder(fmt, es)

        factories: dict[str, Callable[[], Any]] = {fmt: ws(fmt) for fmt in WS_FORMATS}
        factories["ogg"] = lambda: OggOpusEncoder(bitrate_kbps=es.opus_bitrate_kbps, complexity=es.opus_complexity)
        factories["mp3"] = Mp3Encoder
        return factories

    async def start(self, soundfont: Path) -> None:
        """Create and start the hub (its render thread loads the SoundFont; seconds at most)."""
        s = self.settings
        hub = Stations(
            self.specs,
            soundfont,
            encoders=self.encoders(),
            ring_chunks=s.station_ring_chunks,
            idle_s=s.station_idle_s,
            always_on=s.stations_always_on,
            on_render=self.monitor.observe_synthesis,
        )
        try:
            await _in_own_thread(hub.start)
        except Exception as exc:
            self.error = str(exc) or exc.__class__.__name__
            log.error("stations failed to start", extra={"event": "stations_failed", "error": self.error})
            self._ready.set()
            return
        self.hub = hub
        self._ready.set()
        log.info("stations started", extra={"event": "stations_started", "stations": hub.names})

    def fail(self, reason: str) -> None:
        """The hub will not start (the SoundFont failed to load): listeners are told why."""
        self.error = reason
        self._ready.set()

    async def stop(self) -> None:
        """End every station reader (clean end of their responses/connections) and the threads."""
        hub, self.hub = self.hub, None
        self._ready.set()
        if hub is not None:
            await asyncio.to_thread(hub.close)

    @property
    def settled(self) -> bool:
        """The hub has started, or failed to (it starts right after the SoundFont loads)."""
        return self._ready.is_set()

    async def wait_ready(self, timeout_s: float) -> Stations:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            raise StationsUnavailable(f"stations still starting after {timeout_s:g} s; try again later") from None
        if self.hub is None or self.hub.closed:
            raise StationsUnavailable(f"stations unavailable: {self.error or 'server shutting down'}")
        return self.hub

    # --- listeners -----------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    def spec(self, name: str) -> Any:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise UnknownStation(name)

    async def listen(self, name: str, fmt: str, transport: str, *, backlog: int = 0) -> Listening:
        """Join station `name` in `fmt`, counted under `transport` (``ws_opus``, ``http_ogg``...).
        UnknownStation; StationsUnavailable when the hub is not running."""
        self.spec(name)  # UnknownStation before waiting for anything
        hub = await self.wait_ready(self.settings.soundfont_wait_s)
        station = hub[name]
        reader = station.listen(fmt, backlog=backlog)
        self._count[(name, transport)] += 1
        return Listening(self, station, transport, reader)

    # --- changes relayed from other instances (auralis.server.station_relay) ------------------

    def apply_change(self, name: str, params: dict[str, Any], at: float) -> None:
        """Schedule a change another instance made: station `name` plays `params` (all four
        fields) from station time `at`. ValueError or UnknownStation (a KeyError) when it is
        invalid here; then nothing is applied."""
        hub = self.hub
        if hub is None:
            raise ValueError("the stations are not running here")
        station = hub[name]
        missing = sorted({"key", "mode", "bpm", "intensity"} - set(params))
        if missing:
            raise ValueError(f"params lacks {missing[0]!r}")
        station.set_params(station.params.with_changes(**params), at=at)

    def listener_counts(self) -> dict[tuple[str, str], int]:
        """``{(station, transport): listeners}`` for every station and transport (zeros too)."""
        return {(name, t): self._count[(name, t)] for name in self.names for t in TRANSPORTS}

    def server_listener_counts(self) -> dict[tuple[str, str], int]:
        """`listener_counts` of the whole server: with ``--workers``, every worker's together."""
        counts = self.listener_counts()
        for key, n in self.monitor.peer_listener_counts().items():
            if key in counts:
                counts[key] += n
        return counts

