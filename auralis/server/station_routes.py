"""The station routes: listening over HTTP, the station list, the operator's change.

- ``GET /stream/NAME.ogg``, ``GET /stream/NAME.mp3``: a station as an endless HTTP stream
  (`auralis.server.http_streams`); 404 JSON for an unknown station or format.
- ``GET /stream.ogg``, ``GET /stream.mp3``: a personal stream (key, mode, bpm, intensity, preset,
  seed as on the WebSocket; 422 naming a bad parameter).
- ``GET /stations.m3u``: every station's ``.ogg`` URL, for players.
- ``GET /api/stations``: name, description, parameters, chord and section, listeners by
  transport, formats and URLs (for a station published as HLS, an ``hls`` object: whether its
  playlist exists yet, whether this instance writes it, segments it wrote, the last one's number;
  and ``urls.hls`` once the playlist exists).
- ``PUT /api/stations/NAME``: an operator changes a station (JSON object with any of key, mode,
  bpm, intensity and preset; the preset applies first and keeps the key). In production it needs
  an operator token, the same role claim as the dashboard feed (``"role": "operator"`` or
  ``"roles": [..., "operator"]``, `security.tokens.has_role`): 403 otherwise.
  Invalid parameters: 422 naming the field, nothing applied. The change is scheduled at the
  first chunk not yet composed, so every listener hears it at the same station time. In a
  cluster (``AURALIS_REDIS_URL``) it is scheduled 1 s ahead and relayed to every instance
  (`auralis.server.station_relay`), which applies it at the same station time; the answer says
  whether it went out now (``"relayed": true``) or waits for Redis to return (``false``).
- In a cluster, ``/api/stations`` counts the listeners of every live instance
  (``listeners.this_instance``: this one's).

All listener routes (``/stream/``, ``/stream.``) hold a listener slot of the connection gate
(`LISTENER_HTTP_PREFIXES`): a full server answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from auralis.server import protocol as P
from auralis.server.cluster import Cluster
from auralis.server.hub import Hub
from auralis.server.http_streams import (
    HttpListener,
    personal_pieces,
    station_pieces,
    stream_headers,
    wants_icy,
    ICY_METAINT,
)
from auralis.server.security import AuthError
from auralis.server.security.tokens import OPERATOR_ROLE, bearer_token, has_role
from auralis.server.station_relay import CLUSTER_CHANGE_LEAD_CHUNKS
from auralis.server.stations import HTTP_FORMATS, TRANSPORTS, WS_FORMATS, StationService, StationsUnavailable
from auralis.streaming.engine import StreamLimitReached
from auralis.streaming.mp3 import Mp3Encoder
from auralis.streaming.ogg import OggOpusEncoder
from auralis.streaming.station_score import chunk_time
from auralis.streaming.stations import UnknownStation

log = logging.getLogger("auralis.server.station_routes")

#: Fields an operator's PUT may carry.
PUT_FIELDS = ("key", "mode", "bpm", "intensity", "palette", "preset")


def _error(status_code: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": message, **extra}, status_code=status_code)


def _unprocessable(field: str, message: str) -> JSONResponse:
    return _error(422, message, field=field)


def _base(request: Request) -> tuple[str, str]:
    """(http base, ws base) of this request, e.g. ("http://host:8000", "ws://host:8000")."""
    base = str(request.base_url).rstrip("/")
    ws = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
    return base, ws


def install_station_routes(app: FastAPI, hub: Hub, service: StationService, cluster: Cluster | None = None) -> None:
    settings = hub.settings
    production = settings.env == "production"

    def listeners_everywhere(name: str, counts: dict[tuple[str, str], int]) -> dict[str, int]:
        """Listeners per transport on this instance (all its workers, `counts`) and, in a
        cluster, on the others alive."""
        by_transport = {t: counts[(name, t)] for t in TRANSPORTS}
        if cluster is not None and cluster.link.up:
            for transport, n in cluster.counts.station_elsewhere(name).items():
                if transport in by_transport:
                    by_transport[transport] += n
        return by_transport

    def station_info(name: str, request: Request, counts: dict[tuple[str, str], int]) -> dict[str, Any]:
        spec = service.spec(name)
        base, ws = _base(request)
        st = service.hub[name] if service.hub is not None else None
        now = st.now if st is not None else None
        params = st.params if st is not None else spec.params
        by_transport = listeners_everywhere(name, counts)
        listeners: dict[str, Any] = {
            "total": sum(by_transport.values()),
            "websocket": sum(n for t, n in by_transport.items() if t.startswith("ws_")),
            "http": sum(n for t, n in by_transport.items() if t.startswith("http_")),
            "by_transport": by_transport,
        }
        if cluster is not None:
            listeners["this_instance"] = sum(counts[(name, t)] for t in TRANSPORTS)
        hls = app.state.hls
        hls_info = hls.info(name) if hls is not None else None
        return {
            "name": name,
            "description": spec.description,
            "parameters": params.as_dict(),
            # station time (s) from which `parameters` apply: the latest operator change's (the
            # same on every instance of a cluster), None while the station plays its spec's
            "effective_time": st.score.changes[-1].time if st is not None and st.score.changes else None,
            "state": st.state if st is not None else "idle",
            "chord": now.chord if now is not None and st is not None and st.state == "running" else None,
            "section": now.section if now is not None and st is not None and st.state == "running" else None,
            "listeners": listeners,
            "formats": list(WS_FORMATS) + list(HTTP_FORMATS),
            "urls": {
                "websocket": f"{ws}/ws/stream?station={name}",
                "ogg": f"{base}/stream/{name}.ogg",
                "mp3": f"{base}/stream/{name}.mp3",
                **({"hls": f"{base}{hls.url_path(name)}"} if hls_info and hls_info["playlist"] else {}),
            },
            **({"hls": hls_info} if hls_info is not None else {}),
        }

    @app.get("/api/stations", tags=["stations"])
    async def list_stations(request: Request) -> dict[str, Any]:
        """Every station: description, parameters, what plays now, listeners and URLs."""
        # every worker's listeners (--workers); in a cluster each worker is an instance, counted
        # with the others through Redis
        counts = service.listener_counts() if cluster is not None else service.server_listener_counts()
        return {"stations": [station_info(n, request, counts) for n in service.names]}

    @app.put("/api/stations/{name}", tags=["stations"])
    async def change_station(name: str, request: Request) -> Response:
        """An operator's parameter change (production: a token with role operator)."""
        if production:
            verifier = getattr(app.state, "token_verifier", None)
            try:
                token = bearer_token(request.headers.get("authorization"))
                if verifier is None or token is None:
                    raise AuthError("missing bearer token (Authorization: Bearer <token>)")
                claims = verifier.verify(token)
            except AuthError as exc:
                return _error(401, exc.reason)
            if not has_role(claims, OPERATOR_ROLE):
                return _error(403, f"changing a station needs an operator token (a '{OPERATOR_ROLE}' role claim)")
        try:
            service.spec(name)
        except UnknownStation:
            return _error(404, f"unknown station {name!r}", field="station")
        if service.hub is None:
            return _error(503, "stations are starting; try again later")
        station = service.hub[name]
        raw = await request.body()
        if len(raw) > 4096:
            return _unprocessable("body", "the body must be at most 4 KiB of JSON")
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return _unprocessable("body", "the body must be a JSON object")
        if not isinstance(body, dict) or not body:
            return _unprocessable("body", f"the body must be a JSON object with any of {', '.join(PUT_FIELDS)}")
        unknown = sorted(set(body) - set(PUT_FIELDS))
        if unknown:
            return _unprocessable(unknown[0], f"unknown parameter {unknown[0]!r}; allowed: {', '.join(PUT_FIELDS)}")
        params = station.params
        try:
            if "preset" in body:
                params = params.with_preset(body["preset"])
            params = params.with_changes(**{k: v for k, v in body.items() if k != "preset"})
        except ValueError as exc:
            field = str(exc).split(" ", 1)[0]
            field = field if field in PUT_FIELDS else next((f for f in PUT_FIELDS if f in str(exc)), "body")
            return _unprocessable(field, str(exc))
        refusal = hub.engine.palette_refusal(params.palette) if hub.engine is not None else None
        if refusal is not None:
            return _unprocessable("palette", refusal)
        if cluster is None:
            change = station.set_params(params)
            relay = getattr(app.state, "worker_relay", None)
            if relay is not None:  # --workers: the other workers apply it at the same station time
                relay.announce(name, change)
        else:  # far enough ahead that every instance hears of it before composing that far
            change = station.set_params(params, at=chunk_time(station.first_free_chunk(CLUSTER_CHANGE_LEAD_CHUNKS)))
        log.info("station changed", extra={"event": "station_changed", "station": name, "params": params.as_dict()})
        answer: dict[str, Any] = {
            "name": name,
            "parameters": params.as_dict(),
            "effective_time": change.time,
            "effective_chunk": change.chunk,
        }
        if cluster is not None:
            answer["relayed"] = await cluster.relay.publish(name, params.as_dict(), change.time)
        return JSONResponse(answer)

    @app.get("/stations.m3u", tags=["stations"])
    async def stations_m3u(request: Request) -> Response:
        """An M3U playlist of the stations' Ogg streams."""
        base, _ = _base(request)
        lines = ["#EXTM3U"]
        for name in service.names:
            spec = service.spec(name)
            lines.append(f"#EXTINF:-1,Auralis {name} - {spec.description}".rstrip(" -"))
            lines.append(f"{base}/stream/{name}.ogg")
        return Response("\n".join(lines) + "\n", media_type="audio/x-mpegurl")

    @app.get("/stream/{filename}", tags=["stations"], include_in_schema=False)  # endless audio, not an API answer
    async def station_stream(filename: str, request: Request) -> Response:
        """A station as an endless Ogg Opus or MP3 stream (ICY metadata on request)."""
        name, _, ext = filename.rpartition(".")
        if ext not in HTTP_FORMATS:
            return _error(404, f"unknown format {ext!r}; use .ogg or .mp3", field="format")
        try:
            spec = service.spec(name)
        except UnknownStation:
            return _error(404, f"unknown station {name!r}", field="station")
        try:
            listening = await service.listen(name, ext, f"http_{ext}", backlog=settings.start_burst)
        except StationsUnavailable as exc:
            return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "10"})
        icy = wants_icy(request.headers)
        headers = stream_headers(
            HTTP_FORMATS[ext], f"Auralis {name}", spec.description or name, ICY_METAINT if icy else None
        )
        return HttpListener(hub, station_pieces(listening, name), headers, icy=icy, on_end=listening.close)

    async def personal(request: Request, ext: str) -> Response:
        query = dict(request.query_params)
        unknown = sorted(set(query) - set(P.PERSONAL_ONLY))
        if unknown:
            return _unprocessable(unknown[0], f"unknown parameter {unknown[0]!r}; allowed: {', '.join(P.PERSONAL_ONLY)}")
        try:
            req = P.parse_stream_query(query)
        except P.ProtocolError as exc:
            return _unprocessable(exc.field, str(exc))
        if hub.stopping:
            return JSONResponse({"detail": "server shutting down"}, status_code=503, headers={"Retry-After": "10"})
        if not await hub.wait_loaded(settings.soundfont_wait_s):
            return JSONResponse({"detail": f"SoundFont not loaded: {hub.load_error or 'still loading'}"},
                                status_code=503, headers={"Retry-After": "10"})
        refusal = hub.engine.palette_refusal(req.params.palette)
        if refusal is not None:  # the SoundFont lacks a program of this palette
            return _unprocessable("palette", refusal)
        seed = req.seed if req.seed is not None else random.SystemRandom().randrange(2**31)
        if ext == "ogg":
            encoder: Any = OggOpusEncoder(bitrate_kbps=settings.opus_bitrate_kbps, complexity=settings.opus_complexity)
        else:
            encoder = Mp3Encoder()
        try:
            stream = await asyncio.to_thread(
                lambda: hub.engine.open_stream(
                    req.params, seed, lead_chunks=settings.lead_chunks, capacity=settings.ring_capacity,
                    encoder=encoder, limit=settings.max_personal_streams,
                )
            )
        except StreamLimitReached as full:
            return JSONResponse(
                {"detail": f"server at capacity ({full.limit} personal streams); try again later or listen to a station"},
                status_code=503, headers={"Retry-After": "10"},
            )
        title = f"Auralis {req.preset or req.params.mode} (seed {seed})"
        icy = wants_icy(request.headers)
        headers = stream_headers(HTTP_FORMATS[ext], title, "A personal Auralis stream", ICY_METAINT if icy else None)
        return HttpListener(hub, personal_pieces(hub, stream, encoder, title), headers, icy=icy)

    @app.get("/stream.ogg", tags=["stations"], include_in_schema=False)  # endless audio, not an API answer
    async def personal_ogg(request: Request) -> Response:
        """A personal (not interactive) Ogg Opus stream: key, mode, bpm, intensity, preset, seed."""
        return await personal(request, "ogg")

    @app.get("/stream.mp3", tags=["stations"], include_in_schema=False)  # endless audio, not an API answer
    async def personal_mp3(request: Request) -> Response:
        """A personal (not interactive) MP3 stream: key, mode, bpm, intensity, preset, seed."""
        return await personal(request, "mp3")
