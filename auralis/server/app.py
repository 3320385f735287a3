"""The FastAPI app factory and `serve()` (what `auralis serve` runs).

Routes (http-api.md and websocket-protocol.md):

- ``GET /api/status``, ``GET /api/metrics``: JSON, pydantic response models (see /openapi.json)
- ``GET /health``: can this instance serve listeners (200 ok/degraded, 503; `auralis.server.health`)
- ``GET /metrics``: Prometheus text exposition
- ``GET /api/music``: the musical facts the page builds its controls from
- ``GET /api/feed``: the dashboard's live feed (SSE; production: an operator token)
- ``GET /``, ``GET /debug``, ``GET /client/{filename}``: the static client from ``auralis/web``
  (``/client/vendor/{filename}``: its vendored libraries, hls.js)
- ``WS /ws/stream``: the streaming protocol (a personal stream, or ``?station=NAME``)
- ``GET /stream/NAME.ogg|.mp3``, ``GET /stream.ogg|.mp3``, ``GET /stations.m3u``,
  ``GET /api/stations``, ``PUT /api/stations/NAME``: stations (`auralis.server.station_routes`)
- ``GET /api/sessions/{id}/timeline``, ``POST /api/renders``, ``GET /api/renders/{id}[/file]``:
  downloads of what a listener heard (`auralis.server.render_routes`, docs/renders.md)
- ``GET /hls/STATION/index.m3u8`` and its segments: a station's HLS, written by
  `auralis.server.hls_publisher` when ``AURALIS_HLS_DIR`` is set (served here in development
  only, `auralis.server.hls_routes`; nginx serves the directory in production)
- ``POST /debug/fault/{client_id}``: only with ``AURALIS_FAULT_INJECTION`` (development test hook)

`install_security` adds production's checks (docs/production.md), the message-rate limit and the
listener caps (the connection gate: every listener holds a slot; a full server closes with 1013).
`serve()` bounds the request head in size and time (`auralis.server.transport`). With
``--workers N`` (``AURALIS_WORKERS``) it supervises N worker processes on the port
(`auralis.server.workers`), each running `run_worker`; every response then names its worker in
``X-Auralis-Worker`` and the monitoring routes answer for all workers together.

Every HTTP response carries ``Cache-Control: no-cache`` unless it sets its own, and every response
and WebSocket handshake ``X-Auralis-Instance`` (`auralis.server.instance`). With
``AURALIS_REDIS_URL`` the instance joins a cluster (`auralis.server.cluster`): shared limits,
listener counts and station changes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import HTMLResponse, Response
from starlette import status
from starlette.types import ASGIApp, Receive, Scope, Send

from auralis.monitoring.board import PUBLISH_PERIOD_S, WorkerBoard
from auralis.monitoring.metrics import PROMETHEUS_CONTENT_TYPE
from auralis.monitoring.models import PerformanceMetrics, SystemStatus
from auralis.server import protocol as P
from auralis.server.faults import install_fault_injection
from auralis.server.client_files import ClientFiles
from auralis.server.cluster import Cluster
from auralis.server.cluster_counts import LocalCounts
from auralis.server.feed import OperatorFeed, feed_router
from auralis.server.gc_policy import tune_gc_for_serving
from auralis.server.hls_publisher import make_publisher
from auralis.server.hls_routes import install_hls_routes
from auralis.server.health import RefuseWhenUnhealthy, health_router
from auralis.server.hub import Hub
from auralis.server.instance import InstanceHeaderMiddleware
from auralis.server.logs import configure_logging, log_config
from auralis.server.music_api import music_router
from auralis.server.render_jobs import RenderService
from auralis.server.render_routes import install_render_routes
from auralis.server.security import install_security
from auralis.server.session import ListenerSession
from auralis.server.worker_relay import StationRelay
from auralis.server.station_routes import install_station_routes
from auralis.server.station_session import StationSession
from auralis.server.stations import StationService
from auralis.server.settings import Settings
from auralis.server.timelines import SessionTimelines
from auralis.server.transport import RAW_SEND, connection_budget, http_protocol, websocket_protocol
from auralis.server.ws_session import close_reason
from auralis.streaming.allocator import use_one_malloc_arena

log = logging.getLogger("auralis.server")

GIL_SWITCH_INTERVAL_S = 0.001
WEB_DIR = Path(__file__).resolve().parent.parent / "web"

#: Response header naming the worker process that served a request (``--workers N``).
WORKER_HEADER = b"x-auralis-worker"


class _NoCacheAndRawSend:
    """Pure ASGI middleware: `Cache-Control: no-cache` on HTTP responses that set none, the
    worker's ``X-Auralis-Worker`` header (with workers), and the `send` below the app's own
    wrappers kept in the scope: a WebSocket session cuts a connection that cannot take a close
    frame with it, and endless HTTP audio responses send their body chunks with it (the wrappers
    above it act on the response start only). Installed outermost."""

    def __init__(self, app: ASGIApp, worker: int | None = None) -> None:
        self.app = app
        self.extra = [] if worker is None else [(WORKER_HEADER, str(worker).encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # The scope is the connection's own (uvicorn's protocol or request cycle holds it) and
        # `send` is bound to that connection: kept in the scope past the call, it would make a
        # reference cycle that only the garbage collector frees (with the connection's buffers).
        scope[RAW_SEND] = send
        try:
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
                return
            # endless audio bodies go straight to it, past the wrappers that only look at the start
            extra = self.extra

            async def send_no_cache(message: Any) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    if not any(k.lower() == b"cache-control" for k, _ in headers):
                        headers.append((b"cache-control", b"no-cache"))
                    message = {**message, "headers": headers + extra}
                await send(message)

            await self.app(scope, receive, send_no_cache)
        finally:
            scope.pop(RAW_SEND, None)


async def _share_with_workers(hub: Hub, stations: StationService, relay: StationRelay) -> None:
    """Every `PUBLISH_PERIOD_S` while a worker runs: its figures onto the board, and the other
    workers' station changes applied here."""
    failed = False
    while True:
        try:
            hub.monitor.publish()
            if stations.hub is not None:
                relay.apply_new(stations.hub)
            failed = False
        except Exception as exc:  # a full or removed directory: say so once, keep serving
            if not failed:
                log.warning("worker figures not shared", extra={"event": "board_failed", "error": str(exc)})
            failed = True
        await asyncio.sleep(PUBLISH_PERIOD_S)


def create_app(
    settings: Settings | None = None,
    *,
    web_dir: Path = WEB_DIR,
    board: WorkerBoard | None = None,
    tune_gc: bool = False,
) -> FastAPI:
    """A new, independent app: its own hub (engine, listeners) and its own metrics registry.
    With a `board` it is one worker of several (`auralis.server.workers`). With `tune_gc`
    (a serving process: `serve`, `run_worker`; not tests, which build many apps in one process)
    the garbage collector gets the serving policy once the stations have started
    (`auralis.server.gc_policy`)."""
    settings = settings or Settings()
    hub = Hub(settings, board=board)
    worker_headers = [] if board is None else [(WORKER_HEADER, str(board.worker).encode())]
    relay = None if board is None else StationRelay(board.directory, board.worker)
    stations = StationService(settings, hub.monitor)
    hub.stations = stations
    hub.timelines = SessionTimelines(hub.sessions)
    renders = RenderService(settings)
    hls = make_publisher(settings)  # None without AURALIS_HLS_DIR
    instance_id = settings.resolved_instance_id()
    if board is not None and settings.redis_url:
        # each worker is an instance of the cluster: its own counts, and station changes over Redis
        instance_id = f"{instance_id}-w{board.worker}"
    cluster: Cluster | None = None  # set below when AURALIS_REDIS_URL is

    async def start_stations() -> None:
        """The stations start once the SoundFont is loaded (they share its path); HLS after them."""
        if await hub.wait_loaded(float("inf")) and not hub.stopping:
            await stations.start(hub.engine.soundfont)
            if cluster is not None and stations.hub is not None:
                cluster.stations_ready()  # relayed station changes apply from now on
            if hls is not None and stations.hub is not None:
                await hls.start(stations.hub)
            if tune_gc:
                tune_gc_for_serving()
        else:
            stations.fail(hub.load_error or "server shutting down")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.start()
        if cluster is not None:
            cluster.start()
        starting = asyncio.create_task(start_stations())
        publishing = None if relay is None else asyncio.create_task(_share_with_workers(hub, stations, relay))
        log.info(
            "server started",
            extra={"event": "startup", "max_connections": settings.max_connections, "instance": instance_id,
                   "cluster": cluster is not None},
        )
        try:
            yield
        finally:
            if publishing is not None:
                publishing.cancel()
                await asyncio.gather(publishing, return_exceptions=True)
                board.withdraw()  # type: ignore[union-attr]
            await hub.close_sessions(status.WS_1001_GOING_AWAY, "server shutting down", settings.shutdown_grace_s)
            if not starting.done():
                starting.cancel()
                await asyncio.gather(starting, return_exceptions=True)
            if hls is not None:
                await hls.stop()
            if cluster is not None:
                await cluster.stop()
            await stations.stop()
            await renders.stop()
            feed.close()
            await hub.stop()
            log.info("server stopped", extra={"event": "shutdown"})

    production = settings.env == "production"
    app = FastAPI(
        title="Auralis API",
        version="1.0.0",
        description="Real-time generative ambient music: status, metrics, the client and the stream.",
        lifespan=lifespan,
        # the interactive docs need a CDN and inline script, which production's CSP forbids
        docs_url=None if production else "/docs",
        redoc_url=None if production else "/redoc",
    )
    app.state.hub = hub
    app.state.settings = settings
    # with workers and no Redis: operator changes reach every worker through the board's file
    # (with Redis each worker is a cluster instance, and the cluster's relay reaches them all)
    app.state.worker_relay = relay if not settings.redis_url else None
    app.state.hls = hls
    feed = OperatorFeed(lambda: (hub.monitor.status().model_dump(mode="json"), hub.monitor.metrics().model_dump(mode="json")))
    app.state.feed = feed
    # production: JWT, CORS, TrustedHost, HTTPS, headers, limits; refuses bad settings
    limiter = install_security(app, settings)
    slots = app.state.listener_slots
    if settings.redis_url:
        cluster = Cluster(
            settings.redis_url,
            instance_id,
            local=LocalCounts(open=lambda: slots.open, stations=stations.listener_counts),
            heartbeat_s=settings.cluster_heartbeat_s,
            apply_change=stations.apply_change,
        )
        slots.share(settings.cluster_max_listeners, cluster.listeners_elsewhere)
    app.state.cluster = cluster
    app.state.instance_id = instance_id
    app.include_router(health_router(hub, instance_id, cluster, lambda: slots.open))

    @app.get("/api/status", response_model=SystemStatus, tags=["monitoring"])
    @limiter.limit(settings.rate_limit_status)
    async def get_status(request: Request) -> SystemStatus:
        """Current operational state; every figure is read when the request arrives."""
        return hub.monitor.status()

    @app.get("/api/metrics", response_model=PerformanceMetrics, tags=["monitoring"])
    @limiter.limit(settings.rate_limit_metrics)
    async def get_metrics(request: Request) -> Response:
        """Latency histograms (rolling window), event counters and memory."""
        # serialized once by the model itself: FastAPI would validate the model again through
        # `response_model` (a second build of every field) before serializing it
        return Response(hub.monitor.metrics().model_dump_json(), media_type="application/json")

    app.include_router(music_router())
    app.include_router(feed_router(feed))

    @app.get(
        "/metrics",
        tags=["monitoring"],
        response_class=Response,
        responses={200: {"content": {PROMETHEUS_CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
    )
    async def prometheus_metrics() -> Response:
        """Prometheus exposition: Auralis histograms, counters and gauges, process and Python."""
        return Response(hub.monitor.prometheus(), media_type=PROMETHEUS_CONTENT_TYPE)

    client_files = ClientFiles(web_dir)  # in memory, strong ETags (auralis.server.client_files)
    vendor_files = ClientFiles(web_dir / "vendor")

    def _file(files: ClientFiles, request: Request, name: str, cache_control: str = "no-cache") -> Response:
        response = files.response(request, name, cache_control)
        if response is None:
            raise HTTPException(status_code=404, detail="Not Found")
        return response

    @app.get("/", response_class=HTMLResponse, tags=["client"])
    @app.head("/", include_in_schema=False)
    async def root(request: Request) -> Response:
        """The listening page."""
        # http-api.md: no-cache in development, max-age=3600 in production
        return _file(client_files, request, "index.html", "max-age=3600" if production else "no-cache")

    @app.get("/debug", response_class=HTMLResponse, tags=["client"])
    @app.head("/debug", include_in_schema=False)
    async def debug(request: Request) -> Response:
        """The metrics dashboard."""
        return _file(client_files, request, "debug.html")

    @app.get("/client/{filename}", response_class=Response, tags=["client"])
    @app.head("/client/{filename}", include_in_schema=False)
    async def client_file(request: Request, filename: str) -> Response:
        """A client asset (JavaScript, CSS, HTML) from the client directory; 404 otherwise.
        `ETag` (strong) and `Cache-Control: no-cache`: a client holding the file gets 304."""
        return _file(client_files, request, filename)

    @app.get("/client/vendor/{filename}", response_class=Response, tags=["client"])
    @app.head("/client/vendor/{filename}", include_in_schema=False)
    async def vendor_file(request: Request, filename: str) -> Response:
        """A vendored library (auralis/web/vendor: hls.js), pinned; 404 otherwise."""
        return _file(vendor_files, request, filename)

    @app.websocket("/ws/stream")
    async def stream(ws: WebSocket) -> None:
        await ws.accept(headers=worker_headers or None)
        try:
            request = P.parse_stream_query(dict(ws.query_params))
        except P.ProtocolError as exc:
            log.info("listener refused: bad query", extra={"event": "ws_refused", "param": exc.field})
            await ws.close(status.WS_1008_POLICY_VIOLATION, close_reason(str(exc)))
            return
        if request.station is not None:
            if request.station not in stations.names:
                log.info("listener refused: unknown station", extra={"event": "ws_refused", "param": "station"})
                await ws.close(status.WS_1008_POLICY_VIOLATION, close_reason(f"station: unknown station {request.station[:40]!r}"))
                return
            if request.format == "opus" and hub.opus_unavailable is not None:
                await ws.close(status.WS_1008_POLICY_VIOLATION, "format opus is unavailable: the server lacks PyAV")
                return
            if hub.stopping:
                await ws.close(status.WS_1001_GOING_AWAY, "server shutting down")
                return
            station_session = StationSession(
                ws, hub, stations, request.station, request.format, verifier=getattr(app.state, "token_verifier", None)
            )
            hub.sessions.add(station_session)
            await station_session.run()
            return
        if request.format == "opus" and hub.opus_unavailable is not None:
            log.info("listener refused: opus unavailable", extra={"event": "ws_refused", "param": "format"})
            await ws.close(
                status.WS_1008_POLICY_VIOLATION,
                "format opus is unavailable: the server lacks its Opus library (PyAV); use pcm or json",
            )
            return
        if hub.stopping:
            await ws.close(status.WS_1001_GOING_AWAY, "server shutting down")
            return
        session = ListenerSession(ws, hub, request, verifier=getattr(app.state, "token_verifier", None))
        hub.sessions.add(session)
        await session.run()

    install_station_routes(app, hub, stations, cluster)
    install_render_routes(app, hub, renders)
    if hls is not None and not production:  # production: nginx serves the HLS directory
        install_hls_routes(app, hls.directory, hls.names)
    if settings.fault_injection:
        install_fault_injection(app, hub)
    if settings.refuse_when_unhealthy:
        app.add_middleware(RefuseWhenUnhealthy, hub=hub)
    app.add_middleware(InstanceHeaderMiddleware, instance_id=instance_id)
    app.add_middleware(_NoCacheAndRawSend, worker=None if board is None else board.worker)
    return app


def _make_server(config: Any, app: FastAPI) -> Any:
    """uvicorn's Server, closing listeners with 1001 before uvicorn drops connections (1012)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[Any] | None = None) -> None:
            for server in self.servers:
                server.close()
            hub: Hub = app.state.hub
            app.state.feed.close()  # dashboards' open event streams end now, not at the drain timeout
            await hub.close_sessions(status.WS_1001_GOING_AWAY, "server shutting down", hub.settings.shutdown_grace_s)
            await super().shutdown(sockets)

    return Server(config)


def _prepare_process(settings: Settings, worker: int | None = None) -> dict[str, int]:
    """Logging, the connection budget and the GIL switch interval of a serving process."""
    log_format = settings.resolved_log_format()
    configure_logging(settings.log_level, log_format)
    if worker is not None:  # every record of a worker names it
        make_record = logging.getLogRecordFactory()

        def record_with_worker(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            record.worker = worker
            return record

        logging.setLogRecordFactory(record_with_worker)
    budget = connection_budget(settings)
    # before any render thread starts: one malloc arena (auralis.streaming.allocator)
    use_one_malloc_arena()
    # The event loop shares the GIL with the render threads; a 1 ms switch interval (default 5)
    # bounds how long a render thread's Python code can hold up a send or an HTTP answer.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    return budget


def _uvicorn_config(settings: Settings, app: FastAPI, budget: dict[str, int]) -> Any:
    import uvicorn

    log_format = settings.resolved_log_format()
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=log_config(settings.log_level, log_format),
        ws_max_size=settings.ws_max_frame_bytes,
        ws_ping_interval=settings.ws_ping_interval_s,  # dead connections: no pong in time, closed 1011
        ws_ping_timeout=settings.ws_ping_timeout_s,
        ws_per_message_deflate=False,  # base64 PCM barely compresses; deflate would cost CPU per listener
        # uvicorn's default protocol, answering the handshakes websockets refuses, with a fixed SO_SNDBUF
        ws=websocket_protocol(settings.ws_send_buffer_bytes),
        # httptools (uvicorn[standard]'s choice) with the request head bounded in size and time
        http=http_protocol(settings.max_head_bytes, settings.head_timeout_s),
        timeout_keep_alive=settings.keep_alive_timeout_s,
        limit_concurrency=budget["limit_concurrency"],  # a full process answers 503, not EMFILE
        proxy_headers=True,  # X-Forwarded-For/-Proto, from forwarded_allow_ips only
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=2,
        lifespan="on",
    )


def serve(
    host: str | None = None, port: int | None = None, soundfont: str | None = None, workers: int | None = None
) -> int:
    """Run the server until SIGINT/SIGTERM (`auralis serve`). Flags override the environment."""
    overrides = {
        k: v
        for k, v in (("host", host), ("port", port), ("soundfont", soundfont), ("workers", workers))
        if v is not None
    }
    settings = Settings(**overrides)
    if settings.workers > 1:
        from auralis.server.workers import supervise

        configure_logging(settings.log_level, settings.resolved_log_format())
        return supervise(settings, overrides, run_worker)
    budget = _prepare_process(settings)
    app = create_app(settings, tune_gc=True)
    server = _make_server(_uvicorn_config(settings, app, budget), app)
    log.info(
        "serving",
        extra={"event": "serve", "url": f"http://{settings.host}:{settings.port}", "env": settings.env},
    )
    server.run()
    return 0


def run_worker(settings: Settings, board: WorkerBoard) -> None:
    """One worker process of `serve --workers N`: a whole server on its own ``SO_REUSEPORT``
    socket of the shared port, its figures on `board`."""
    from auralis.server.workers import reuseport_socket

    budget = _prepare_process(settings, worker=board.worker)
    app = create_app(settings, board=board, tune_gc=True)
    server = _make_server(_uvicorn_config(settings, app, budget), app)
    sock = reuseport_socket(settings.host, settings.port)
    log.info("worker serving", extra={"event": "serve", "url": f"http://{settings.host}:{settings.port}",
                                      "env": settings.env, "pid": os.getpid()})
    server.run(sockets=[sock])
