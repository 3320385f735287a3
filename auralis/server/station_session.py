"""A station listener over WebSocket: ``/ws/stream?station=NAME&format=json|pcm|opus``.

The station's render thread encodes each chunk once per format; every listener of that format
gets the same `Packet`. Per connection only the numbering differs (``seq`` from 0): for binary
formats the 32-byte AUR2 header is rewritten (`with_seq`), for JSON the ``seq`` field. Binary
listeners get a ``now`` message whenever the chord, section or parameters change.

A listener that falls further behind than the station's ring is dropped (close 1008), as is one
whose outbox fills; a failed station ends with ``INTERNAL_ERROR`` and close 1011 (the next
listener restarts it). ``update_params`` and ``select_preset`` get ``INVALID_MESSAGE``: a
station's parameters are set by its operator. In production the connection holds its token as a
personal one does (`ConnectionToken`): closed at its expiry unless a ``reauth`` renews it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette import status
from starlette.websockets import WebSocket

from auralis.server import protocol as P
from auralis.server.hub import Hub
from auralis.server.stations import StationService, StationsUnavailable
from auralis.server.token_lease import ConnectionToken, Verifier
from auralis.server.ws_session import CLOSE_TIMEOUT_S, WebSocketSession
from auralis.streaming.encoders import with_seq
from auralis.streaming.fanout import ReaderDropped, SourceClosed

log = logging.getLogger("auralis.server.station_session")

OPERATOR_ONLY = "a station's parameters are set by its operator"


class StationSession(WebSocketSession):
    def __init__(
        self,
        ws: WebSocket,
        hub: Hub,
        service: StationService,
        station: str,
        fmt: str,
        *,
        verifier: Verifier | None = None,
    ) -> None:
        super().__init__(ws, hub.settings.send_queue_chunks)
        self.hub = hub
        self.service = service
        self.station_name = station
        self.format = fmt
        self.stream: Any = None  # the hub's Listener protocol: no personal stream
        self.seq = 0
        self._feeder: asyncio.Task[None] | None = None
        self.token = (
            ConnectionToken(verifier, ws.scope, fail=self._fail, queue=self._queue,
                            log_extra={"client_id": self.client_id, "station": station})
            if verifier is not None
            else None
        )

    async def run(self) -> None:
        listening = None
        receiver: asyncio.Task[None] | None = None
        try:
            if self.token is not None:
                self.token.hold()
            if self._close is not None:
                await self.outbox.drain(CLOSE_TIMEOUT_S)
                return
            try:
                listening = await self.service.listen(
                    self.station_name, self.format, f"ws_{self.format}", backlog=self.hub.settings.start_burst
                )
            except StationsUnavailable as exc:
                self._fail("SYNTHESIS_TIMEOUT", str(exc), status.WS_1013_TRY_AGAIN_LATER)
            if self._close is not None:
                await self.outbox.drain(CLOSE_TIMEOUT_S)
                return
            assert listening is not None
            st = listening.station
            self._queue(
                P.status_message(
                    "connected",
                    f"Listening to station {st.name}",
                    0,
                    client_id=self.client_id,
                    station=st.name,
                    description=st.description,
                    params=st.params.as_dict(),
                    format=self.format,
                    protocol_version=P.PROTOCOL_VERSION,
                )
            )
            self._writer = asyncio.create_task(self.outbox.run())
            self._feeder = asyncio.create_task(self._feed(listening.reader))
            receiver = asyncio.create_task(self._receive_loop())
            await asyncio.wait({receiver, self._writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            tasks = [t for t in (receiver, self._feeder, self._writer) if t is not None]
            for t in tasks:
                t.cancel()
            if self.token is not None:
                self.token.cancel()
            if listening is not None:
                listening.close()
            self.hub.sessions.discard(self)
            self.hub.monitor.count_disconnect()
            try:
                if tasks:
                    await asyncio.wait(tasks)
                await self._finish_close()
            finally:
                # what refers back to this session (a cancelled task's traceback holds its frames,
                # the token holds bound methods): dropped, so reference counting frees it
                self._feeder = self._writer = None
                self.token = None
                self.finished.set()

    async def _feed(self, reader: Any) -> None:
        binary = self.format != "json"
        music: tuple[Any, ...] | None = None
        try:
            while True:
                packet = await reader.next()
                if binary:
                    now = (packet.chord, packet.section, packet.params)
                    if now != music:
                        music = now
                        self._queue(P.now_message(self.seq, packet.chord, packet.section, packet.params))
                self._queue(with_seq(packet.data, self.seq), audio=True)
                self.seq += 1
        except ReaderDropped:
            log.warning("station listener too slow, dropped", extra={"event": "ws_slow_client", **self._log_extra()})
            self.request_close(status.WS_1008_POLICY_VIOLATION, "client too slow: it fell behind the station", flush=False)
        except SourceClosed as end:
            if end.error is not None:
                self._fail("INTERNAL_ERROR", f"station {self.station_name} failed; reconnect to restart it",
                           status.WS_1011_INTERNAL_ERROR)
            else:
                self.request_close(status.WS_1001_GOING_AWAY, "station stopped", goodbye=True)

    def _log_extra(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "station": self.station_name}

    def _stop_producing(self) -> None:
        """A close was requested: no more packets from the station (the feeder)."""
        if self._feeder is not None and self._feeder is not asyncio.current_task():
            self._feeder.cancel()

    async def _receive_loop(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if self._close is not None:
                continue
            try:
                msg = P.parse_client_message(message.get("text", message.get("bytes")))
                if isinstance(msg, P.Ping):
                    self._queue(P.pong_message(msg.timestamp, time.time()))
                elif isinstance(msg, (P.UpdateParams, P.SelectPreset)):
                    self._queue(P.error_message("INVALID_MESSAGE", OPERATOR_ONLY, recoverable=True))
                elif isinstance(msg, P.Reauth):
                    if self.token is None:
                        raise P.ProtocolError("reauth: this server does not use tokens", "type")
                    self.token.reauth(msg.token)
                # telemetry: accepted; a station's listeners do not feed the latency histograms
            except P.ProtocolError as exc:
                self._queue(P.error_message("INVALID_MESSAGE", str(exc), recoverable=True))
            await asyncio.sleep(0)
