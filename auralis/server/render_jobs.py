"""Render jobs: downloads of what a listener heard, rendered off the event loop.

A job renders a span of a timeline's music to a file (`auralis.streaming.renders.run_job`) in a
small pool of render **processes** (``AURALIS_RENDER_PROCESSES``, default 1), started with
``spawn``, niced (``AURALIS_RENDER_NICE``) and, with ``AURALIS_RENDER_IDLE`` (default on), under
Linux's SCHED_IDLE policy and the idle I/O class: a render runs on its own interpreter, so it never
holds the server's GIL, and only on CPU time the listeners' render threads leave.
The event loop only submits jobs and reads their progress (a queue the processes write to).

Bounds: at most ``AURALIS_RENDER_QUEUE`` unfinished jobs server-wide (more: 503 with
Retry-After), ``AURALIS_RENDER_RATE`` new jobs per client address (limits' moving window, in
every mode: a render costs far more than any other request; more: the contract's 429). Finished
files are kept ``AURALIS_RENDER_KEEP_S`` seconds, then deleted; all of them go when the server
stops.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import queue
import shutil
import tempfile
import time
import uuid
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from auralis.music.timeline import Timeline
from auralis.server.ratelimit import parse_rate
from auralis.server.settings import Settings
from auralis.streaming.renders import FILE_FORMATS, init_worker, run_job

log = logging.getLogger("auralis.server.renders")

#: Finished jobs remembered at most (their files included), oldest forgotten first.
MAX_KEPT_JOBS = 16
#: How long a stopping server waits for a render process to notice the cancel event.
STOP_TIMEOUT_S = 5.0


class RenderBusy(Exception):
    """Too many unfinished renders on this server."""


class RenderRateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass
class RenderJob:
    id: str
    timeline: Timeline
    start: float
    end: float
    format: str
    path: Path
    created: float = field(default_factory=time.monotonic)
    status: str = "queued"  # queued, running, done, failed
    progress: float = 0.0
    error: str | None = None
    finished_at: float | None = None
    future: Future[str] | None = None

    @property
    def filename(self) -> str:
        ext = FILE_FORMATS[self.format][0]
        return f"auralis-seed{self.timeline.seed}-{_clock(self.start)}-{_clock(self.end)}.{ext}"

    @property
    def media_type(self) -> str:
        return FILE_FORMATS[self.format][1]

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:d}h{s // 60 % 60:02d}m{s % 60:02d}s"


class RenderService:
    """The render pool and its jobs (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rate = parse_rate(settings.render_rate, "AURALIS_RENDER_RATE")
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._ctx = multiprocessing.get_context("spawn")
        self._progress: Any = None
        self._cancel: Any = None
        self._pool: ProcessPoolExecutor | None = None
        self.dir: Path | None = None
        self.jobs: OrderedDict[str, RenderJob] = OrderedDict()

    # --- lifecycle ----------------------------------------------------------------------------

    def _ensure_pool(self) -> ProcessPoolExecutor:
        """The pool and its folder, made on the first render (a server that never renders
        starts no process)."""
        if self._pool is None:
            self.dir = Path(tempfile.mkdtemp(prefix="auralis-renders-"))
            self._progress = self._ctx.Queue()
            self._cancel = self._ctx.Event()
            self._pool = ProcessPoolExecutor(
                max_workers=self.settings.render_processes,
                mp_context=self._ctx,
                initializer=init_worker,
                initargs=(self._progress, self._cancel, self.settings.render_nice, self.settings.render_idle),
            )
        return self._pool

    async def stop(self) -> None:
        """Stop running renders, end the processes, delete every file. Idempotent."""
        pool, self._pool = self._pool, None
        if pool is not None:
            self._cancel.set()
            processes = list(getattr(pool, "_processes", {}).values())
            try:
                await asyncio.wait_for(
                    asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True), STOP_TIMEOUT_S
                )
            except TimeoutError:
                log.error("a render process did not stop in time; killing it")
                for p in processes:
                    if p.is_alive():
                        p.kill()
            self._progress.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        self.jobs.clear()

    # --- jobs ---------------------------------------------------------------------------------

    def submit(self, client: str, timeline: Timeline, start: float, end: float, fmt: str,
               soundfont: str, opus_bitrate_kbps: int) -> RenderJob:
        """A new job for `client` (an address key). RenderBusy, RenderRateLimited: nothing done."""
        self._prune()
        if sum(1 for j in self.jobs.values() if not j.finished) >= self.settings.render_queue:
            raise RenderBusy(f"{self.settings.render_queue} renders are already under way")
        if not self._limiter.hit(self.rate, "render", client):
            reset = self._limiter.get_window_stats(self.rate, "render", client).reset_time
            raise RenderRateLimited(max(1, math.ceil(reset - time.time())))
        pool = self._ensure_pool()
        assert self.dir is not None
        job_id = uuid.uuid4().hex
        job = RenderJob(job_id, timeline, start, end, fmt, self.dir / f"{job_id}.{FILE_FORMATS[fmt][0]}")
        job.future = pool.submit(
            run_job, job_id, timeline.to_json(), start, end, fmt, str(job.path), soundfont, opus_bitrate_kbps
        )
        self.jobs[job_id] = job
        log.info(
            "render submitted",
            extra={"event": "render_submitted", "render_id": job_id, "format": fmt, "seconds": round(end - start, 1)},
        )
        return job

    def get(self, job_id: str) -> RenderJob | None:
        self._update()
        return self.jobs.get(job_id)

    def _update(self) -> None:
        """Read the processes' progress reports and the finished futures (never blocks)."""
        if self._progress is not None:
            while True:
                try:
                    job_id, frac = self._progress.get_nowait()
                except (queue.Empty, OSError, ValueError):
                    break
                job = self.jobs.get(job_id)
                if job is not None and not job.finished:
                    job.status, job.progress = "running", max(job.progress, float(frac))
        for job in self.jobs.values():
            fut = job.future
            if job.finished or fut is None or not fut.done():
                continue
            job.finished_at = time.monotonic()
            exc = fut.exception() if not fut.cancelled() else RuntimeError("cancelled")
            if exc is None:
                job.status, job.progress = "done", 1.0
            else:
                job.status, job.error = "failed", str(exc) or exc.__class__.__name__
                log.error("render failed", extra={"event": "render_failed", "render_id": job.id, "error": job.error})

    def _prune(self) -> None:
        """Forget finished jobs past their keeping time (and the oldest beyond MAX_KEPT_JOBS)."""
        self._update()
        now = time.monotonic()
        finished = [j for j in self.jobs.values() if j.finished]
        for i, job in enumerate(finished):
            expired = job.finished_at is not None and now - job.finished_at > self.settings.render_keep_s
            if expired or len(finished) - i > MAX_KEPT_JOBS:
                job.path.unlink(missing_ok=True)
                del self.jobs[job.id]
