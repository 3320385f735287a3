"""One listener's WebSocket session: opening, running and closing.

Each connection runs three tasks of its own, so no client can hold up another:

* the **pacer** (`auralis.server.pacer`) takes this listener's chunks from its stream on an
  absolute schedule and hands them to the session, which queues them;
* the **writer** (`auralis.server.outbox`) sends the queued frames; a client that stops reading
  blocks only its own writer, and once its backlog reaches `send_queue_chunks` frames it is
  dropped (close 1008; the queueing and the close are `auralis.server.ws_session`'s, shared with
  station listeners);
* the **receiver** validates and applies client messages (nothing is half-applied; a bad message
  gets `INVALID_MESSAGE` and the audio goes on): telemetry (`auralis.server.telemetry`) and
  parameter changes (`auralis.server.param_changes`).

A chunk that is due when none is ready is a server underrun: the listener gets `status
buffering`, then `status connected` when chunks flow again, and its stream renders one chunk
further ahead from then on (`lead_chunks_short` at the start when the render threads have
measured headroom, else `lead_chunks`; at most `lead_chunks_max`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from starlette import status
from starlette.websockets import WebSocket

from auralis.music.params import PRESETS, MusicParams
from auralis.music.timeline import Timeline
from auralis.server import protocol as P
from auralis.server.hub import Hub
from auralis.server.pacer import Pacer
from auralis.server.param_changes import ParamChanges
from auralis.server.telemetry import ListenerTelemetry
from auralis.server.token_lease import ConnectionToken, Verifier
from auralis.server.transport import ROUND_TRIPS
from auralis.server.ws_session import CLOSE_TIMEOUT_S, WebSocketSession
from auralis.streaming.chunk import CHUNK_SECONDS
from auralis.streaming.engine import StreamLimitReached

log = logging.getLogger("auralis.server.session")

class ListenerSession(WebSocketSession):
    def __init__(
        self,
        ws: WebSocket,
        hub: Hub,
        request: P.StreamRequest,
        *,
        verifier: Verifier | None = None,
    ) -> None:
        """The stream's encoder (`request.format`) gives each chunk its ready frame, in the
        render thread; the session forwards it as it is. `verifier` (production) holds the
        connection to its token's expiry."""
        super().__init__(ws, hub.settings.send_queue_chunks)
        self.format = request.format
        self._now: tuple[Any, ...] | None = None  # the music the last `now` message described
        self.verifier = verifier
        self.token: ConnectionToken | None = None
        self.hub = hub
        self.settings = hub.settings
        self.seed: int = request.seed if request.seed is not None else random.SystemRandom().randrange(2**31)
        self.stream: Any = None
        self.telemetry = ListenerTelemetry(
            hub.monitor,
            client_id=self.client_id,
            # the longest a chunk may take from the queue to the ear: the send queue, then the
            # client's buffer
            max_lag_s=self.settings.send_queue_chunks * CHUNK_SECONDS + self.settings.client_buffer_max_ms / 1000.0,
        )
        self.changes = ParamChanges(
            request.params,
            request.preset,
            debounce_s=self.settings.param_debounce_ms / 1000.0,
            apply=self._apply_params,
            acknowledge=self._queue,
        )
        self._closing = asyncio.Event()
        self._pacer: asyncio.Task[None] | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._started = time.monotonic()

    @property
    def params(self) -> MusicParams:
        """The parameters in effect (the last applied change)."""
        return self.changes.params

    @property
    def preset(self) -> str | None:
        return self.changes.preset

    @property
    def chunks_sent(self) -> int:
        return self.telemetry.chunks_sent

    @property
    def timeline(self) -> Timeline | None:
        """This stream's parameter timeline, ending at the audio sent so far (None before the
        stream opened)."""
        timeline = getattr(self.stream, "timeline", None)
        if timeline is None:
            return None
        return timeline.with_end(round(self.chunks_sent * CHUNK_SECONDS, 3))

    # --- running -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the listener until either side closes. The hub has registered the session."""
        hub = self.hub
        close_code: int | None = None
        round_trips = self.ws.scope.get(ROUND_TRIPS)
        try:
            if round_trips is not None:  # the server's own pings, timed by the transport
                round_trips.listener = self.telemetry.round_trip
            self._hold_token()
            if not await self._open_stream():
                return
            self._queue(
                P.status_message(
                    "connected",
                    "Audio streaming started",
                    self.stream.depth,
                    client_id=self.client_id,
                    params=self.params.as_dict(),
                    preset=self.preset,
                    seed=self.seed,
                    protocol_version=P.PROTOCOL_VERSION,
                )
            )
            log.info(
                "listener connected",
                extra={"event": "ws_connect", "client_id": self.client_id, "listeners": len(hub.sessions),
                       "lead_chunks": self.stream.lead_chunks},
            )
            # the burst leaves once the stream's lead is rendered: its first chunks then have
            # their render lead of slack (20 streams starting together on 2 cores underran with
            # one); the lead is the one the engine chose (short with measured headroom), read
            # again while the start waits (`auralis.server.pacer`)
            pacer = Pacer(self.stream, self, burst=self.settings.start_burst, period_s=CHUNK_SECONDS)
            self._writer = asyncio.create_task(self.outbox.run())
            self._pacer = asyncio.create_task(self._pace(pacer))
            self._receiver = asyncio.create_task(self._receive_loop())
            await asyncio.wait({self._receiver, self._writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Synchronous cleanup first: it must happen even if this handler is being cancelled.
            tasks = [t for t in (self._receiver, self._pacer, self._writer) if t is not None]
            for task in tasks:
                task.cancel()
            self.changes.cancel()
            if self.token is not None:
                self.token.cancel()
            if round_trips is not None:
                round_trips.listener = None
            if self.stream is not None:
                self.stream.close()
                timeline = self.timeline
                timelines = getattr(hub, "timelines", None)
                if timelines is not None and timeline is not None:  # the page may still download it
                    timelines.keep(self.client_id, timeline)
            hub.sessions.discard(self)
            hub.monitor.count_disconnect()
            try:
                if tasks:
                    await asyncio.wait(tasks)
                close_code = await self._finish_close()
            finally:
                self._release()
                self.finished.set()
                log.info(
                    "listener disconnected",
                    extra={
                        "event": "ws_disconnect",
                        "client_id": self.client_id,
                        "code": close_code,
                        "chunks_sent": self.chunks_sent,
                        "seconds": round(time.monotonic() - self._started, 1),
                    },
                )

    def _release(self) -> None:
        """Drop what refers back to this session, so that reference counting frees it (and its
        stream's buffers) when the handler returns, without waiting for the garbage collector: a
        cancelled task keeps its CancelledError, whose traceback holds the task's frames and so
        this session; the parameter changes and the token hold its bound methods."""
        self._pacer = self._receiver = self._writer = None
        self.changes.close()
        self.token = None

    # --- opening -----------------------------------------------------------------------------

    def _hold_token(self) -> None:
        """Production: close the stream at its token's expiry (the gate checked the token)."""
        if self.verifier is None:
            return
        self.token = ConnectionToken(
            self.verifier, self.ws.scope, fail=self._fail, queue=self._queue, log_extra={"client_id": self.client_id}
        )
        self.token.hold()

    async def _open_stream(self) -> bool:
        """Wait for the SoundFont (or a close), then open this listener's stream."""
        hub = self.hub
        loaded = asyncio.ensure_future(hub.wait_loaded(self.settings.soundfont_wait_s))
        closing = asyncio.ensure_future(self._closing.wait())
        await asyncio.wait({loaded, closing}, return_when=asyncio.FIRST_COMPLETED)
        closing.cancel()
        ready = loaded.done() and loaded.result()
        loaded.cancel()
        if self._close is None and not ready:
            if hub.load_error is not None:
                self._fail(
                    "SOUNDFONT_LOAD_FAILED",
                    f"SoundFont could not be loaded: {hub.load_error}",
                    status.WS_1011_INTERNAL_ERROR,
                )
            else:
                self._fail(
                    "SYNTHESIS_TIMEOUT",
                    f"SoundFont still loading after {self.settings.soundfont_wait_s:g} s; try again later",
                    status.WS_1013_TRY_AGAIN_LATER,
                )
        if self._close is None:
            refusal = hub.engine.palette_refusal(self.params.palette)
            if refusal is not None:  # the SoundFont lacks a program of this palette
                self._fail("INVALID_MESSAGE", refusal, status.WS_1008_POLICY_VIOLATION)
        if self._close is None:
            try:
                self.stream = await asyncio.to_thread(
                    lambda: hub.engine.open_stream(
                        self.params,
                        self.seed,
                        lead_chunks=self.settings.lead_chunks,
                        short_lead=self.settings.lead_chunks_short,
                        capacity=self.settings.ring_capacity,
                        encoder=hub.new_encoder(self.format),
                        limit=self.settings.max_personal_streams,
                    )
                )
            except StreamLimitReached as full:
                log.info("listener refused: personal streams at capacity",
                         extra={"event": "ws_refused", "client_id": self.client_id})
                self.request_close(
                    status.WS_1013_TRY_AGAIN_LATER,
                    f"server at capacity ({full.limit} personal streams); try again later or listen to a station",
                )
            except Exception:
                log.exception(
                    "open_stream failed", extra={"event": "stream_open_failed", "client_id": self.client_id}
                )
                self._fail("INTERNAL_ERROR", "the server could not start a stream", status.WS_1011_INTERNAL_ERROR)
        if self._close is not None:  # refused, failed, or shutdown began meanwhile
            # send the errors and goodbyes on the handler's own task: no writer runs yet
            await self.outbox.drain(CLOSE_TIMEOUT_S)
            return False
        return True

    # --- closing -----------------------------------------------------------------------------

    def _stop_producing(self) -> None:
        """A close was requested: no more chunks (the pacer) or parameter acknowledgements."""
        self._closing.set()
        if self._pacer is not None and self._pacer is not asyncio.current_task():
            self._pacer.cancel()
        self.changes.cancel()

    def _goodbye_depth(self) -> int:
        return self.stream.depth if self.stream is not None else 0

    # --- pacing (PaceEvents) -------------------------------------------------------------------

    async def _pace(self, pacer: Pacer) -> None:
        try:
            await pacer.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pacer failed", extra={"event": "pacer_failed", "client_id": self.client_id})
            self._fail("INTERNAL_ERROR", "internal server error in the stream", status.WS_1011_INTERNAL_ERROR)

    def chunk(self, chunk: Any) -> None:
        if chunk.seq != self.chunks_sent:
            log.error(
                "stream sequence gap",
                extra={"event": "seq_gap", "client_id": self.client_id, "expected": self.chunks_sent, "got": chunk.seq},
            )
        if self.format != "json":  # binary frames carry no music: `now` says when it changes
            music = (chunk.chord, chunk.section, chunk.params)
            if music != self._now:
                self._now = music
                self._queue(P.now_message(chunk.seq, chunk.chord, chunk.section, chunk.params))
        self._queue(chunk.frame, audio=True)  # encoded once, by the stream's render worker
        self.telemetry.sent(chunk.seq, chunk.timestamp, time.time())

    def starving(self) -> None:
        self.hub.monitor.count_underruns(1, source="server")
        # the render workers did not keep this stream's lead: render further ahead from now on
        lead = self.stream.raise_lead(self.settings.lead_chunks_max)
        log.info(
            "server underrun", extra={"event": "server_underrun", "client_id": self.client_id, "lead_chunks": lead}
        )
        self._queue(P.status_message("buffering", "Synthesis is catching up; buffering", 0))

    def resumed(self, depth: int) -> None:
        self._queue(P.status_message("connected", "Audio streaming resumed", depth))

    def overflowed(self, n: int) -> None:
        self.hub.monitor.count_overflows(n)

    def stream_failed(self, error: BaseException) -> None:
        log.error(
            "stream synthesis failed",
            extra={"event": "stream_failed", "client_id": self.client_id, "error": repr(error)},
        )
        self._fail("INTERNAL_ERROR", "synthesis or encoding failed for this stream", status.WS_1011_INTERNAL_ERROR)

    def start_timed_out(self, seconds: float) -> None:
        self._fail(
            "SYNTHESIS_TIMEOUT", f"synthesis did not start within {seconds:g} s", status.WS_1011_INTERNAL_ERROR
        )

    # --- receiving ---------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if self._close is not None:
                continue
            received = time.time()
            try:
                msg = P.parse_client_message(message.get("text", message.get("bytes")))
                self._handle(msg, received)
            except P.ProtocolError as exc:
                log.debug("invalid message", extra={"client_id": self.client_id, "error": str(exc)})
                self._queue(P.error_message("INVALID_MESSAGE", str(exc), recoverable=True))
            except Exception:  # a defect must cost this one message, never the listener's stream
                log.exception("message handling failed", extra={"event": "message_failed", "client_id": self.client_id})
                self._queue(P.error_message("INTERNAL_ERROR", "the server could not handle this message", recoverable=True))
            await asyncio.sleep(0)  # a burst of client messages must not starve the writer or pacer

    def _handle(self, msg: P.ClientMessage, received: float) -> None:
        """Apply one validated message (every check that can fail runs before any change)."""
        if isinstance(msg, P.Ping):
            self.telemetry.ping(msg, received)
            self._queue(P.pong_message(msg.timestamp, time.time()))
        elif isinstance(msg, P.Telemetry):
            self.telemetry.report(msg, received)
        elif isinstance(msg, P.UpdateParams):
            if "palette" in msg.changes:
                self._check_palette(msg.changes["palette"])
            self.changes.update(msg.changes)
        elif isinstance(msg, P.SelectPreset):
            self._check_palette(PRESETS[msg.preset]["palette"])
            self.changes.select_preset(msg.preset)
        elif isinstance(msg, P.Reauth):
            self._reauth(msg.token)

    def _check_palette(self, palette: str) -> None:
        """ProtocolError naming ``palette`` when the SoundFont in use cannot play it."""
        engine = self.hub.engine
        refusal = engine.palette_refusal(palette) if engine is not None else None
        if refusal is not None:
            raise P.ProtocolError(refusal, "palette")

    def _reauth(self, token: str) -> None:
        if self.token is None:
            raise P.ProtocolError("reauth: this server does not use tokens", "type")
        self.token.reauth(token)

    def _apply_params(self, params: MusicParams) -> int | None:
        if self._close is not None or self.stream is None:
            return None
        effective_seq: int = self.stream.update_params(params)
        log.debug("params applied", extra={"client_id": self.client_id, "effective_seq": effective_seq})
        return effective_seq
