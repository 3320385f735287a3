"""`auralis serve` with probes of the event loop and the garbage collector (one process only).

Used by ``bench_station_capacity.py --probe``: it runs the server through this script, which

- times every garbage collection (``gc.callbacks``): generation, duration, the objects it walked
  (those in the generations it collected, counted before it starts and not timed) and the
  unreachable objects it freed (cyclic garbage);
- probes the event loop every 10 ms: how late a timer fires, then how long one more turn of the
  loop takes (a ``call_soon`` hop: one turn runs every callback that was ready when it began);
- follows every ``/api/metrics`` request inside the server, from the callback that parsed its
  head to the send of its last body byte: the time, and how many turns of the loop it took (a
  ``call_soon`` chain runs while the request is in flight, one link per turn).

Every 2 s it appends what it recorded since to ``$AURALIS_PROBE_FILE`` (JSON lines; wall-clock
times, so the bench cuts out each level's window). Nothing here changes the server's code.

``AURALIS_PROBE_HEAP=1``: after each full collection, the commonest types of what it walked.
``AURALIS_PROBE_GC_THRESHOLD=a,b,c`` sets `gc.set_threshold` first, to try other settings.

Run: AURALIS_PROBE_FILE=/tmp/probe.json python bench/serve_probed.py serve --port 8000
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = Path(os.environ["AURALIS_PROBE_FILE"])
PERIOD_S = 0.010

# (wall, generation, ms, CPU ms of its thread, objects walked, cyclic garbage freed)
gc_events: list[tuple[float, int, float, float, int, int]] = []
lags: list[tuple[float, float, float, float]] = []  # (wall, timer lateness ms, one turn ms, its CPU ms)
requests: list[tuple[float, float, int]] = []  # (wall, ms inside the server, turns)
_gc_start = [0.0, 0.0, 0]
heaps: list[tuple[float, int, list]] = []  # (wall, objects in gen2, the commonest types)


def _gc_callback(phase: str, info: dict) -> None:
    if phase == "start":
        walked = sum(len(gc.get_objects(generation=g)) for g in range(info["generation"] + 1))
        _gc_start[:] = [time.perf_counter(), time.thread_time(), walked]
    else:
        gc_events.append((time.time(), info["generation"], (time.perf_counter() - _gc_start[0]) * 1000,
                          (time.thread_time() - _gc_start[1]) * 1000, _gc_start[2], info["collected"]))
        if info["generation"] == 2 and os.environ.get("AURALIS_PROBE_HEAP"):
            from collections import Counter

            objs = gc.get_objects(generation=2)
            top = Counter(type(o).__qualname__ for o in objs).most_common(25)
            heaps.append((time.time(), len(objs), top))
            del objs


_written = {"gc": 0, "lag": 0, "requests": 0, "heaps": 0}


def _dump() -> None:
    """Append what is new (JSON lines, cheap: the probe must not stall the loop it measures)."""
    with OUT.open("a") as f:
        for name, rows in (("gc", gc_events), ("lag", lags), ("requests", requests), ("heaps", heaps)):
            for row in rows[_written[name]:]:
                f.write(json.dumps([name, row]) + "\n")
            _written[name] = len(rows)
        f.write(json.dumps(["state", {"frozen": gc.get_freeze_count(), "thresholds": gc.get_threshold()}]) + "\n")


async def _probe() -> None:
    loop = asyncio.get_running_loop()
    next_dump = time.monotonic() + 2.0
    while True:
        t0 = time.perf_counter()
        await asyncio.sleep(PERIOD_S)
        t1, c1 = time.perf_counter(), time.thread_time()
        hop = loop.create_future()
        loop.call_soon(hop.set_result, None)
        await hop  # the task's own wake-up is one more hop: two turns, halved below
        t2, c2 = time.perf_counter(), time.thread_time()
        lags.append((time.time(), (t1 - t0 - PERIOD_S) * 1000, (t2 - t1) * 1000 / 2, (c2 - c1) * 1000 / 2))
        if time.monotonic() > next_dump:
            next_dump = time.monotonic() + 2.0
            _dump()


def _install() -> None:
    import uvicorn
    from uvicorn.protocols.http import httptools_impl

    from auralis.server import transport

    gc.callbacks.append(_gc_callback)
    thresholds = os.environ.get("AURALIS_PROBE_GC_THRESHOLD")  # "700,10,10": try other settings
    if thresholds:
        gc.set_threshold(*(int(x) for x in thresholds.split(",")))
    start = uvicorn.Server.startup

    async def startup(self, sockets=None):  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        if loop.get_debug():  # PYTHONASYNCIODEBUG=1: log every callback over 5 ms (slow, diagnostic)
            loop.slow_callback_duration = 0.005
        self._auralis_probe = loop.create_task(_probe())
        await start(self, sockets)

    uvicorn.Server.startup = startup  # type: ignore[method-assign]

    headers_complete = transport.HttpProtocol.on_headers_complete

    def on_headers_complete(self):  # type: ignore[no-untyped-def]
        headers_complete(self)
        if self.scope.get("path") == "/api/metrics" and self.cycle is not None:
            turns = [0]
            done = [False]

            def link() -> None:
                if not done[0]:
                    turns[0] += 1
                    self.loop.call_soon(link)

            self.cycle._auralis_probe = (time.perf_counter(), turns, done)
            self.loop.call_soon(link)

    transport.HttpProtocol.on_headers_complete = on_headers_complete  # type: ignore[method-assign]

    send = httptools_impl.RequestResponseCycle.send

    async def probed_send(self, message):  # type: ignore[no-untyped-def]
        await send(self, message)
        probe = getattr(self, "_auralis_probe", None)
        if probe is not None and message["type"] == "http.response.body" and not message.get("more_body", False):
            t0, turns, done = probe
            done[0] = True
            requests.append((time.time(), (time.perf_counter() - t0) * 1000, turns[0]))

    httptools_impl.RequestResponseCycle.send = probed_send  # type: ignore[method-assign]


if __name__ == "__main__":
    _install()
    from auralis.cli import main

    sys.exit(main(sys.argv[1:]))
