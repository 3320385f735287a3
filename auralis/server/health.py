"""Whether this instance can serve listeners: ``GET /health``, and the balancer's refusal.

``GET /health`` tells the truth for a load balancer, a supervisor or an operator:

- **200** ``"status": "ok"``: the SoundFont is loaded, the stations have started (or failed on
  their own: personal streams still play) and, in a cluster, Redis answers;
- **200** ``"status": "degraded"``: it renders, but Redis is unreachable, so limits and counts
  are this instance's own until it returns;
- **503** ``"status": "starting"`` (the SoundFont is still loading), ``"failed"`` (it could not
  be loaded: the instance cannot render at all) or ``"stopping"``.

The body also names the instance, its listeners and, in a cluster, the Redis link
(``"redis": "connected" | "unreachable" | "connecting"``, since when, the last error) and the
instances seen alive. It is public in every mode (like ``/``): it carries no secret and a
balancer or supervisor holds no token.

With ``AURALIS_REFUSE_WHEN_UNHEALTHY`` (set behind nginx, `docs/deploy.md`), listener requests
(WebSocket handshakes and ``/stream`` audio) that reach an instance that cannot render get an
HTTP 503 with ``Retry-After`` instead of a handshake: nginx (``proxy_next_upstream http_503``)
passes the listener on to another instance at once and, after ``max_fails`` of them, takes this
one out for ``fail_timeout``. Without it, a listener waits for the SoundFont and is told
``SOUNDFONT_LOAD_FAILED`` over the WebSocket, as the protocol says.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from auralis.server.hub import Hub
from auralis.server.security.gate import LISTENER_HTTP_PREFIXES

#: Seconds a refused listener (and the balancer) is told to wait.
RETRY_AFTER_S = 5


def readiness(hub: Hub) -> str:
    """``ready``, ``starting``, ``failed`` or ``stopping``: can this instance render now?"""
    if hub.stopping:
        return "stopping"
    if hub.load_error is not None:
        return "failed"
    if not hub.soundfont_loaded():
        return "starting"
    return "ready"


def health_report(hub: Hub, instance_id: str, cluster: Any, listeners: Callable[[], int]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of ``GET /health``."""
    ready = readiness(hub)
    stations = hub.stations
    body: dict[str, Any] = {
        "status": "ok" if ready == "ready" else ready,
        "instance": instance_id,
        "soundfont_loaded": hub.engine is not None,
        "soundfont_error": hub.load_error,
        "stations": (
            "failed" if getattr(stations, "error", None) else "running" if getattr(stations, "hub", None) else "starting"
        ),
        "listeners": listeners(),
        "redis": "disabled",
        "timestamp": round(time.time(), 3),
    }
    if cluster is not None:
        body.update(cluster.health())
        if ready == "ready" and body["redis"] != "connected":
            body["status"] = "degraded"
    return (200 if ready == "ready" else 503), body


def health_router(hub: Hub, instance_id: str, cluster: Any, listeners: Callable[[], int]) -> APIRouter:
    router = APIRouter()

    @router.get("/health", tags=["monitoring"], responses={503: {"description": "Cannot render now"}})
    async def health() -> JSONResponse:
        """Can this instance serve listeners? 200 ok/degraded, 503 starting/failed/stopping."""
        code, body = health_report(hub, instance_id, cluster, listeners)
        return JSONResponse(body, status_code=code, headers={"Cache-Control": "no-store"})

    return router


class RefuseWhenUnhealthy:
    """ASGI middleware: listener requests to an instance that cannot render get HTTP 503."""

    def __init__(self, app: ASGIApp, *, hub: Hub) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        path = scope.get("path", "")
        listener = kind == "websocket" or (kind == "http" and path.startswith(LISTENER_HTTP_PREFIXES))
        state = readiness(self.hub) if listener else "ready"
        if state == "ready":
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {"error": "Service Unavailable", "detail": f"this instance cannot render ({state})",
             "retry_after": RETRY_AFTER_S}
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(RETRY_AFTER_S).encode()),
            (b"cache-control", b"no-store"),
        ]
        prefix = "http"
        if kind == "websocket":
            await receive()  # websocket.connect
            prefix = "websocket.http"
        await send({"type": f"{prefix}.response.start", "status": 503, "headers": headers})
        await send({"type": f"{prefix}.response.body", "body": body})
