"""One listener's WebSocket session: its own stream, paced by the clock, and its messages.

Each connection runs three tasks of its own, so no client can hold up another:

* the **pacer** pops this listener's chunks from its stream's ring buffer on an absolute schedule
  (chunk k is due at ``t0 + max(0, k - burst + 1) * 0.1 s``: a start burst, then real time with
  no drift) and queues them;
* the **writer** sends the queued frames; a client that stops reading blocks only its own writer,
  and once its queue holds `send_queue_chunks` frames it is dropped (close 1008);
* the **receiver** validates and applies client messages (nothing is half-applied; a bad message
  gets `INVALID_MESSAGE` and the audio goes on).

A chunk that is due when none is ready is a server underrun: the listener gets `status
buffering`, then `status connected` when chunks flow again (re-anchoring the schedule with a new
start burst if it fell more than a burst behind).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import deque
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

from auralis.monitoring.clock import ClockSync
from auralis.music.params import MusicParams
from auralis.server import protocol as P
from auralis.server.hub import Hub
from auralis.streaming.chunk import CHUNK_SECONDS

log = logging.getLogger("auralis.server.session")

#: How often the pacer looks again while a chunk is late (starting or starved).
POLL_S = 0.005
#: Sent chunks remembered for end-to-end latency (played_seq -> production timestamp).
SENT_HISTORY = 1200
#: End-to-end samples outside this range (ms) are clock trouble, not latency; they are skipped.
MAX_END_TO_END_MS = 60_000.0
#: A stream that has not produced its start burst within this time fails with SYNTHESIS_TIMEOUT.
START_TIMEOUT_S = 15.0
#: Control frames (pong, error, params, status) a client may have queued beyond its audio.
CONTROL_BACKLOG = 256
#: Time allowed for the close frame to leave before the connection is cut.
CLOSE_TIMEOUT_S = 1.0


class _Close:
    """Queue marker: close the connection after the frames queued before it."""


class _Audio:
    """An audio frame in the queue (counted against the slow-client bound): the chunk's ready
    frame, text (json) or bytes (AUR2), encoded once by the stream's encoder."""

    __slots__ = ("frame",)

    def __init__(self, frame: str | bytes) -> None:
        self.frame = frame


async def _send(ws: WebSocket, frame: str | bytes) -> None:
    if isinstance(frame, bytes):
        await ws.send_bytes(frame)
    else:
        await ws.send_text(frame)


_CLOSE = _Close()


def _close_reason(text: str) -> str:
    """A WebSocket close reason fits 123 bytes of UTF-8."""
    data = text.encode()
    return text if len(data) <= 123 else data[:120].decode(errors="ignore") + "..."


class ListenerSession:
    def __init__(self, ws: WebSocket, hub: Hub, request: P.StreamRequest) -> None:
        self.ws = ws
        self.hub = hub
        self.settings = hub.settings
        self.client_id = uuid.uuid4().hex
        self.params: MusicParams = request.params
        self.preset: str | None = request.preset
        self.format = request.format
        self._now: tuple[Any, ...] | None = None  # the music last described by a `now` message
        self.seed: int = request.seed if request.seed is not None else random.SystemRandom().randrange(2**31)
        self.stream: Any = None
        self.finished = asyncio.Event()
        self.chunks_sent = 0
        self._out: asyncio.Queue[str | _Audio | _Close] = asyncio.Queue()
        self._queued_audio = 0
        self._close: tuple[int, str] | None = None
        self._closing = asyncio.Event()
        self._client_gone = False
        self._pacer: asyncio.Task[None] | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._clock = ClockSync()
        self._sent: dict[int, float] = {}
        self._sent_order: deque[int] = deque()
        self._pending: MusicParams | None = None
        self._pending_preset: str | None = None
        self._pending_acks = 0
        self._flush_handle: asyncio.TimerHandle | None = None
        self._client_underruns = 0  # the client's last cumulative figure
        self._client_underruns_counted = 0  # how many of its underruns went into the metrics
        self._overflows_seen = 0
        self._started = time.monotonic()

    # --- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the listener until either side closes. The hub has registered the session."""
        hub = self.hub
        close_code: int | None = None
        try:
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
                extra={"event": "ws_connect", "client_id": self.client_id, "listeners": len(hub.sessions)},
            )
            self._writer = asyncio.create_task(self._write_loop())
            self._pacer = asyncio.create_task(self._pace_loop())
            self._receiver = asyncio.create_task(self._receive_loop())
            await asyncio.wait({self._receiver, self._writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Synchronous cleanup first: it must happen even if this handler is being cancelled.
            tasks = [t for t in (self._receiver, self._pacer, self._writer) if t is not None]
            for task in tasks:
                task.cancel()
            if self._flush_handle is not None:
                self._flush_handle.cancel()
            if self.stream is not None:
                self.stream.close()
            hub.sessions.discard(self)
            hub.monitor.count_disconnect()
            try:
                if tasks:
                    await asyncio.wait(tasks)
                close_code = await self._finish_close()
            finally:
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
                    P.CLOSE_SERVER_ERROR,
                )
            else:
                self._fail(
                    "SYNTHESIS_TIMEOUT",
                    f"SoundFont still loading after {self.settings.soundfont_wait_s:g} s; try again later",
                    P.CLOSE_TRY_AGAIN_LATER,
                )
        if self._close is None:
            try:
                self.stream = await asyncio.to_thread(
                    lambda: hub.engine.open_stream(
                        self.params,
                        self.seed,
                        lead_chunks=self.settings.lead_chunks,
                        capacity=self.settings.ring_capacity,
                        encoder=hub.new_encoder(self.format),
                    )
                )
            except Exception:
                log.exception(
                    "open_stream failed", extra={"event": "stream_open_failed", "client_id": self.client_id}
                )
                self._fail("INTERNAL_ERROR", "the server could not start a stream", P.CLOSE_SERVER_ERROR)
        if self._close is not None:  # refused, failed, or shutdown began meanwhile
            await self._drain_then_close()
            return False
        return True

    async def _drain_then_close(self) -> None:
        """Send what is queued (errors, goodbyes) on the handler's own task; used before the
        writer exists."""
        while not self._out.empty():
            item = self._out.get_nowait()
            if isinstance(item, _Close):
                break
            try:
                frame = item.frame if isinstance(item, _Audio) else item
                await asyncio.wait_for(_send(self.ws, frame), CLOSE_TIMEOUT_S)
            except Exception:
                self._client_gone = True
                return

    def request_close(self, code: int, reason: str, *, flush: bool = True, goodbye: bool = False) -> None:
        """Close with `code`: after the queued frames (flush) or at once (a client too slow to
        take them). `goodbye` sends `status disconnected` first. Idempotent."""
        if self._close is not None:
            return
        self._close = (code, reason)
        self._closing.set()
        if self._pacer is not None and self._pacer is not asyncio.current_task():
            self._pacer.cancel()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if goodbye:
            depth = self.stream.depth if self.stream is not None else 0
            self._out.put_nowait(P.status_message("disconnected", reason, depth))
        if flush:
            self._out.put_nowait(_CLOSE)
        elif self._writer is not None:
            self._writer.cancel()

    async def _finish_close(self) -> int | None:
        """Send the close frame if the client is still there; cut the connection if it cannot."""
        if self._close is None or self._client_gone:
            return None if self._close is None else self._close[0]
        code, reason = self._close
        if self.ws.application_state == WebSocketState.CONNECTED:
            try:
                await asyncio.wait_for(self.ws.close(code, _close_reason(reason)), CLOSE_TIMEOUT_S)
            except TimeoutError:
                self.abort()
            except Exception:
                pass  # the client left meanwhile
        return code

    def abort(self) -> None:
        """Cut the TCP connection (a client that does not read cannot take a close frame)."""
        raw_send = self.ws.scope.get("auralis.raw_send")
        transport = getattr(getattr(raw_send, "__self__", None), "transport", None)
        if transport is not None and hasattr(transport, "abort"):
            transport.abort()
            log.info("listener cut", extra={"event": "ws_abort", "client_id": self.client_id})

    def _fail(self, code: str, message: str, close_code: int) -> None:
        self._out.put_nowait(P.error_message(code, message, recoverable=False))
        self.request_close(close_code, message)

    # --- sending -----------------------------------------------------------------------------

    def _queue(self, frame: str | bytes, *, audio: bool = False) -> None:
        """Queue a frame for the writer. A client whose backlog reaches `send_queue_chunks` audio
        frames (or CONTROL_BACKLOG other frames) is not reading: it is dropped with 1008."""
        if self._close is not None:
            return
        if self._queued_audio >= self.settings.send_queue_chunks or self._out.qsize() >= (
            self.settings.send_queue_chunks + CONTROL_BACKLOG
        ):
            log.warning(
                "listener too slow, dropped",
                extra={"event": "ws_slow_client", "client_id": self.client_id, "queued": self._out.qsize()},
            )
            self.request_close(P.CLOSE_POLICY, "client too slow: it stopped reading the stream", flush=False)
            return
        if audio:
            self._queued_audio += 1
            self._out.put_nowait(_Audio(frame))
        else:
            self._out.put_nowait(frame)

    async def _write_loop(self) -> None:
        try:
            while True:
                item = await self._out.get()
                if isinstance(item, _Close):
                    return
                if isinstance(item, _Audio):
                    self._queued_audio -= 1
                    item = item.frame
                await _send(self.ws, item)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._client_gone = True  # the connection is gone; the receiver sees the disconnect

    # --- pacing ------------------------------------------------------------------------------

    async def _pace_loop(self) -> None:
        try:
            await self._pace()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pacer failed", extra={"event": "pacer_failed", "client_id": self.client_id})
            self._fail("INTERNAL_ERROR", "internal server error in the stream", P.CLOSE_SERVER_ERROR)

    def _stream_failed(self) -> bool:
        error = self.stream.error
        if error is None:
            return False
        log.error(
            "stream synthesis failed",
            extra={"event": "stream_failed", "client_id": self.client_id, "error": repr(error)},
        )
        self._fail("INTERNAL_ERROR", "synthesis or encoding failed for this stream", P.CLOSE_SERVER_ERROR)
        return True

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        stream = self.stream
        burst = self.settings.start_burst
        period = CHUNK_SECONDS
        # Start: wait until the start burst is rendered (bounded), so it leaves at once.
        deadline = loop.time() + START_TIMEOUT_S
        ready = min(burst, self.settings.lead_chunks)
        while stream.depth < ready:
            if self._stream_failed():
                return
            if loop.time() > deadline:
                self._fail(
                    "SYNTHESIS_TIMEOUT",
                    f"synthesis did not start within {START_TIMEOUT_S:g} s",
                    P.CLOSE_SERVER_ERROR,
                )
                return
            await asyncio.sleep(POLL_S)
        base_time, base_k = loop.time(), 0
        k = 0
        starving = False
        while True:
            due = base_time + max(0, k - base_k - burst + 1) * period
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._stream_failed():
                return
            chunk = stream.pop()
            if chunk is None:
                if not starving:
                    starving = True
                    self.hub.monitor.count_underruns(1, source="server")
                    self._queue(P.status_message("buffering", "Synthesis is catching up; buffering", 0))
                await asyncio.sleep(POLL_S)
                continue
            if starving:
                starving = False
                now = loop.time()
                if now - due > burst * period:  # fell too far behind: start afresh with a burst
                    base_time, base_k = now, k
                self._queue(P.status_message("connected", "Audio streaming resumed", stream.depth))
            self._send_chunk(chunk)
            k += 1
            overflows = stream.overflows
            if overflows > self._overflows_seen:
                self.hub.monitor.count_overflows(overflows - self._overflows_seen)
                self._overflows_seen = overflows

    def _send_chunk(self, chunk: Any) -> None:
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
        self._queue(chunk.frame, audio=True)  # encoded once, in the render thread
        self.chunks_sent = chunk.seq + 1
        self._sent[chunk.seq] = chunk.timestamp
        self._sent_order.append(chunk.seq)
        if len(self._sent_order) > SENT_HISTORY:
            self._sent.pop(self._sent_order.popleft(), None)

    # --- receiving ---------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                self._client_gone = True
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
            self._clock.observe_timestamp(msg.timestamp, received)
            if msg.rtt_ms is not None:
                self.hub.monitor.observe_network(self._clock.observe_rtt(msg.rtt_ms))
            self._queue(P.pong_message(msg.timestamp, time.time()))
        elif isinstance(msg, P.Telemetry):
            self._telemetry(msg, received)
        elif isinstance(msg, P.UpdateParams):
            base, preset = self._target()
            try:
                new = base.with_changes(**msg.changes)
            except ValueError as exc:
                raise P.ProtocolError(str(exc)) from None
            self._schedule(new, preset if preset and P.matches_preset(new, preset) else None)
        elif isinstance(msg, P.SelectPreset):
            base, _ = self._target()
            self._schedule(base.with_preset(msg.preset), msg.preset)

    def _telemetry(self, msg: P.Telemetry, received: float) -> None:
        chunk_ts = None
        if msg.played_seq is not None:
            chunk_ts = self._sent.get(msg.played_seq)
            if chunk_ts is None:
                raise P.ProtocolError(
                    f"played_seq {msg.played_seq} is not among the last {SENT_HISTORY} chunks sent "
                    f"(next seq is {self.chunks_sent})",
                    "played_seq",
                )
        if msg.timestamp is not None:
            self._clock.observe_timestamp(msg.timestamp, received)
        if msg.underruns is not None:
            # cumulative per connection; a smaller figure means the client reset its counter.
            # Playback stops at most once per chunk received, so a connection's reported
            # underruns count up to the chunks sent to it: a client cannot inflate the figure.
            delta = msg.underruns - self._client_underruns if msg.underruns >= self._client_underruns else msg.underruns
            self._client_underruns = msg.underruns
            delta = min(delta, self.chunks_sent - self._client_underruns_counted)
            if delta > 0:
                self._client_underruns_counted += delta
                self.hub.monitor.count_underruns(delta, source="client")
        if chunk_ts is not None and msg.played_at is not None:
            e2e_ms = (self._clock.to_server_time(msg.played_at) - chunk_ts) * 1000.0
            if 0.0 <= e2e_ms <= MAX_END_TO_END_MS:
                self.hub.monitor.observe_end_to_end(e2e_ms)
            else:
                log.debug("implausible end-to-end latency skipped", extra={"client_id": self.client_id, "ms": e2e_ms})

    # --- parameter changes: validated, debounced, applied atomically, acknowledged ----------

    def _target(self) -> tuple[MusicParams, str | None]:
        """The parameters further changes build on: pending ones if any, else those in effect."""
        if self._pending is not None:
            return self._pending, self._pending_preset
        return self.params, self.preset

    def _schedule(self, params: MusicParams, preset: str | None) -> None:
        self._pending, self._pending_preset = params, preset
        self._pending_acks += 1
        if self._flush_handle is None:
            delay = self.settings.param_debounce_ms / 1000.0
            self._flush_handle = asyncio.get_running_loop().call_later(delay, self._flush_params)

    def _flush_params(self) -> None:
        self._flush_handle = None
        params, preset, acks = self._pending, self._pending_preset, self._pending_acks
        self._pending, self._pending_preset, self._pending_acks = None, None, 0
        if params is None or self._close is not None or self.stream is None:
            return
        effective_seq = self.stream.update_params(params)
        self.params, self.preset = params, preset
        log.debug("params applied", extra={"client_id": self.client_id, "effective_seq": effective_seq})
        for _ in range(acks):
            self._queue(P.params_message(params, preset, effective_seq))
