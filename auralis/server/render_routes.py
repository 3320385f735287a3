"""The render routes: a listener's timeline, and downloads of what they heard (docs/renders.md).

- ``GET /api/sessions/{client_id}/timeline``: the parameter timeline of a personal stream (the
  ``client_id`` of its ``status connected`` message), live or recently ended; 404 otherwise.
- ``POST /api/renders``: ``{"timeline": {...}, "from": s, "to": s, "format": "ogg"|"wav"|"midi"}``
  (``seed`` may be given too; it must be the timeline's). 202 with the job; the span is at most
  30 minutes. Bad input: 422 (413 for a body over 1 MiB) with ``detail`` and the ``field`` named,
  nothing started. Over the rate: the contract's 429; too many renders under way: 503.
- ``GET /api/renders/{id}``: the job's status and progress (0..1), and its file's URL when done.
- ``GET /api/renders/{id}/file``: the file, as an attachment (``Content-Disposition``); 409 while
  it renders, 404 for an unknown or forgotten job.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from auralis.music.timeline import Timeline, TimelineError
from auralis.server.hub import Hub
from auralis.server.ratelimit import client_address_key
from auralis.server.render_jobs import RenderBusy, RenderJob, RenderRateLimited, RenderService
from auralis.streaming.renders import FILE_FORMATS

log = logging.getLogger("auralis.server.renders")

#: The longest span one render may cover.
MAX_SPAN_S = 30 * 60.0
#: The furthest into a stream a span may end (a day).
MAX_END_S = 24 * 3600.0
#: The largest request body (a timeline with thousands of changes fits).
MAX_BODY_BYTES = 1 << 20
FIELDS = ("timeline", "from", "to", "format", "seed")


@dataclass(frozen=True, slots=True)
class RenderRequest:
    timeline: Timeline
    start: float
    end: float
    format: str


def parse_render_request(body: Any) -> RenderRequest:
    """A render request's JSON, validated; TimelineError naming the field otherwise."""
    if not isinstance(body, dict):
        raise TimelineError("body", "must be a JSON object with timeline, from, to and format")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise TimelineError(unknown[0], f"unknown field; allowed: {', '.join(FIELDS)}")
    for name in ("timeline", "from", "to", "format"):
        if name not in body:
            raise TimelineError(name, "is required")
    timeline = Timeline.from_json(body["timeline"])
    if "seed" in body and (
        isinstance(body["seed"], bool) or not isinstance(body["seed"], int) or body["seed"] != timeline.seed
    ):
        raise TimelineError("seed", f"must be the timeline's seed ({timeline.seed}), got {body['seed']!r}")
    fmt = body["format"]
    if fmt not in FILE_FORMATS:
        raise TimelineError("format", f"must be one of {', '.join(FILE_FORMATS)}, got {fmt!r}")
    values = {}
    for name in ("from", "to"):
        v = body[name]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise TimelineError(name, f"must be a non-negative number of seconds, got {v!r}")
        values[name] = float(v)
    start, end = values["from"], values["to"]
    if end <= start:
        raise TimelineError("to", f"must come after from ({start:g} s), got {end:g} s")
    if end - start > MAX_SPAN_S:
        raise TimelineError("to", f"a render covers at most {MAX_SPAN_S / 60:g} minutes; asked for {(end - start) / 60:.1f}")
    if end > MAX_END_S:
        raise TimelineError("to", f"must be within {MAX_END_S / 3600:g} hours of the stream's start")
    return RenderRequest(timeline, start, end, fmt)


def _error(status_code: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status_code, headers=headers)


def job_json(job: RenderJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "progress": round(job.progress, 3),
        "format": job.format,
        "from": job.start,
        "to": job.end,
        "seed": job.timeline.seed,
        "filename": job.filename,
        "url": f"/api/renders/{job.id}",
        "file": f"/api/renders/{job.id}/file" if job.status == "done" else None,
        "error": job.error,
    }


def install_render_routes(app: FastAPI, hub: Hub, renders: RenderService) -> None:
    settings = hub.settings

    @app.get("/api/sessions/{client_id}/timeline", tags=["renders"])
    async def session_timeline(client_id: str) -> Response:
        """A personal stream's parameter timeline (docs/renders.md), live or recently ended."""
        timeline = hub.timelines.get(client_id) if hub.timelines is not None else None
        if timeline is None:
            return _error(404, "no personal stream with this client_id (live or recently ended)", "client_id")
        return JSONResponse(timeline.to_json())

    @app.post("/api/renders", tags=["renders"], status_code=202)
    async def create_render(request: Request) -> Response:
        """Render a span of a timeline's music to Ogg Opus, WAV or MIDI (at most 30 minutes)."""
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return _error(413, f"the body must be at most {MAX_BODY_BYTES // 1024} KiB of JSON", "body")
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return _error(422, "the body must be JSON", "body")
        try:
            req = parse_render_request(body)
        except TimelineError as exc:
            return _error(422, str(exc), exc.field)
        if req.format == "ogg" and hub.opus_unavailable is not None:
            return _error(422, f"format ogg is unavailable here: {hub.opus_unavailable}", "format")
        if hub.stopping:
            return _error(503, "server shutting down", headers={"Retry-After": "10"})
        if not await hub.wait_loaded(settings.soundfont_wait_s) or hub.engine is None:
            return _error(503, f"SoundFont not loaded: {hub.load_error or 'still loading'}", headers={"Retry-After": "10"})
        try:
            job = renders.submit(
                client_address_key(request), req.timeline, req.start, req.end, req.format,
                str(hub.engine.soundfont), settings.opus_bitrate_kbps,
            )
        except RenderRateLimited as exc:
            return JSONResponse(
                {"error": "Rate limit exceeded", "retry_after": exc.retry_after},
                status_code=429,
                headers={"Retry-After": str(exc.retry_after), "Cache-Control": "no-store"},
            )
        except RenderBusy as exc:
            return _error(503, f"too many renders under way ({exc}); try again shortly", headers={"Retry-After": "30"})
        return JSONResponse(job_json(job), status_code=202, headers={"Location": f"/api/renders/{job.id}"})

    @app.get("/api/renders/{render_id}", tags=["renders"])
    async def render_status(render_id: str) -> Response:
        """A render's status (queued, running, done, failed) and progress."""
        job = renders.get(render_id)
        if job is None:
            return _error(404, "unknown render (or its file expired)", "render_id")
        return JSONResponse(job_json(job))

    @app.get("/api/renders/{render_id}/file", tags=["renders"], response_class=FileResponse)
    async def render_file(render_id: str) -> Response:
        """The rendered file, as an attachment."""
        job = renders.get(render_id)
        if job is None:
            return _error(404, "unknown render (or its file expired)", "render_id")
        if job.status == "failed":
            return _error(410, f"the render failed: {job.error}", "render_id")
        if job.status != "done" or not job.path.is_file():
            return _error(409, f"the render is {job.status} ({job.progress * 100:.0f}%)", "render_id")
        return FileResponse(job.path, media_type=job.media_type, filename=job.filename)
