"""``GET /api/feed``: the operator dashboard's live feed (Server-Sent Events).

One producer computes status and metrics once a second, encodes the event once, and every viewer
receives those same bytes, so the cost of a tick does not grow with the number of viewers. The
producer runs only while someone watches. Counters come with per-minute rates over the last
minute. In production the feed needs a token with the operator role (``role: operator``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from auralis.server.security import OPERATOR_ROLE, AuthError, bearer_token, has_role

#: Counters of /api/metrics that get a per-minute rate beside their total.
RATE_COUNTERS: tuple[str, ...] = ("buffer_underruns", "buffer_overflows", "disconnects")
FEED_INTERVAL_S = 1.0
RATE_WINDOW_S = 60.0
#: Viewers at once; more get 503 (each holds one open response).
MAX_FEED_VIEWERS = 32


class CounterRates:
    """Per-minute rates of monotonically increasing counters over a sliding window."""

    def __init__(self, names: tuple[str, ...] = RATE_COUNTERS, window_s: float = RATE_WINDOW_S) -> None:
        self.names = names
        self.window_s = window_s
        self._samples: deque[tuple[float, dict[str, float]]] = deque()

    def add(self, t: float, counters: Mapping[str, Any]) -> None:
        self._samples.append((t, {n: float(counters[n]) for n in self.names}))
        # keep one sample at or before the window's start, so a full window is always measurable
        while len(self._samples) > 2 and self._samples[1][0] <= t - self.window_s:
            self._samples.popleft()

    @property
    def span_s(self) -> float:
        return self._samples[-1][0] - self._samples[0][0] if len(self._samples) > 1 else 0.0

    def per_minute(self) -> dict[str, float | None]:
        """Increase per minute over the window (None until two samples a second apart exist)."""
        span = self.span_s
        if span < 1.0:
            return {n: None for n in self.names}
        (_, old), (_, new) = self._samples[0], self._samples[-1]
        return {n: round(max(0.0, new[n] - old[n]) * 60.0 / span, 2) for n in self.names}


class OperatorFeed:
    """Computes one event per interval while anyone watches; every viewer gets the same bytes."""

    def __init__(
        self,
        sample: Callable[[], tuple[dict[str, Any], dict[str, Any]]],
        *,
        interval_s: float = FEED_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sample = sample
        self.interval_s = interval_s
        self._clock = clock
        self.rates = CounterRates()
        self.viewers = 0
        self.ticks = 0  # events computed (whatever the number of viewers)
        self._latest: bytes | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def tick(self) -> bytes:
        """Compute and encode one event (status, metrics, per-minute rates)."""
        status, metrics = self._sample()
        self.rates.add(self._clock(), metrics)
        event = {
            "status": status,
            "metrics": metrics,
            "rates_per_min": self.rates.per_minute(),
            "rate_window_s": round(self.rates.span_s, 1),
            "viewers": self.viewers,
        }
        self.ticks += 1
        return b"event: sample\ndata: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"

    async def _run(self) -> None:
        while self.viewers > 0 and not self._closed:
            self._latest = self.tick()
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()
            await asyncio.sleep(self.interval_s)
        self._task = None

    async def subscribe(self) -> AsyncIterator[bytes]:
        """The events for one viewer, starting with the latest one, until the feed closes."""
        self.viewers += 1
        try:
            if self._task is None:
                self._task = asyncio.create_task(self._run(), name="auralis-operator-feed")
            if self._latest is not None:
                yield self._latest
            while not self._closed:
                changed = self._changed
                await changed.wait()
                if self._closed:
                    break
                assert self._latest is not None
                yield self._latest
        finally:
            self.viewers -= 1

    def close(self) -> None:
        """End every viewer's stream (server shutdown)."""
        self._closed = True
        self._changed.set()


def feed_router(feed: OperatorFeed) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/api/feed",
        tags=["monitoring"],
        include_in_schema=False,  # an endless event stream: nothing a schema fuzzer can finish
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "One `sample` event a second"}},
    )
    async def get_feed(request: Request) -> Response:
        """Server-Sent Events for the dashboard: once a second, `{status, metrics, rates_per_min,
        rate_window_s, viewers}`. Production: a token whose claims carry ``role: operator``."""
        verifier = getattr(request.app.state, "token_verifier", None)
        if verifier is not None:  # production; the gate has already refused a missing or bad token
            token = bearer_token(request.headers.get("authorization")) or ""
            try:
                claims = verifier.verify(token)
            except AuthError as exc:
                return JSONResponse({"error": "Unauthorized", "detail": exc.reason}, status_code=401)
            if not has_role(claims, OPERATOR_ROLE):
                detail = f"the live feed needs an operator token (a '{OPERATOR_ROLE}' role claim)"
                return JSONResponse({"error": "Forbidden", "detail": detail}, status_code=403)
        if feed.viewers >= MAX_FEED_VIEWERS:
            return JSONResponse(
                {"error": "Too many dashboard viewers", "retry_after": 30},
                status_code=503,
                headers={"Retry-After": "30"},
            )
        return StreamingResponse(
            feed.subscribe(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
