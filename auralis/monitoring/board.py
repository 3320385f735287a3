"""The board: where the worker processes of one server (`auralis serve --workers N`) leave their
figures for each other, so that whichever worker answers `/api/status`, `/api/metrics` or
`/metrics` answers for the whole server. No Redis: a private directory on the machine.

Each worker owns one file, ``worker-<i>.fig``, in a directory the supervisor creates (mode 0700,
under ``/dev/shm`` where there is one, so it lives in memory) and removes at exit. A worker
rewrites its file every `PUBLISH_PERIOD_S` (write to a temporary name, then ``os.replace``: a
reader sees the old file or the new one, never half of one) and removes it when it stops.

A file is a JSON line (the worker's counters, live status figures, memory and GC counts), a
JSON line of its Prometheus samples (parsed only for ``/metrics``), then its rolling latency
windows as raw float64 ``(time, value)`` pairs (``time.monotonic``, one clock for every process
of the machine). No pickle: a file is data, never code.

The answering worker reads its own figures live and the others' files (each at most one period
old); a file older than `STALE_S` (a worker that died without removing it) is ignored until the
supervisor's replacement publishes. How the figures combine: `auralis.monitoring.merge`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

#: Seconds between two publications of a worker's figures.
PUBLISH_PERIOD_S = 0.25
#: A worker's file older than this is not counted (the worker is gone or stuck).
STALE_S = 3.0
WINDOWS = ("synthesis", "network", "end_to_end")


class WorkerBoard:
    """One worker's view of the board: it publishes its own figures and reads its peers'."""

    def __init__(
        self, directory: str | os.PathLike[str], worker: int, workers: int, *, started: float,
        stale_s: float = STALE_S,
    ) -> None:
        if workers < 1 or not 0 <= worker < workers:
            raise ValueError(f"worker {worker} of {workers}: need 0 <= worker < workers")
        self.directory = Path(directory)
        self.worker = worker
        self.workers = workers
        #: wall-clock time the server (the supervisor) started: uptime counts from it
        self.started = started
        self.stale_s = stale_s

    def path(self, worker: int) -> Path:
        return self.directory / f"worker-{worker}.fig"

    # --- writing -------------------------------------------------------------------------------

    def publish(self, figures: dict[str, Any], windows: dict[str, np.ndarray]) -> None:
        """Replace this worker's file with `figures` (JSON-able; its ``families``, the
        Prometheus samples, go on a line of their own) and `windows` ((n, 2) arrays)."""
        arrays = [np.ascontiguousarray(windows.get(name, np.empty((0, 2))), dtype=np.float64).reshape(-1, 2) for name in WINDOWS]
        figures = dict(figures)
        families = figures.pop("families", [])
        head = {**figures, "worker": self.worker, "pid": os.getpid(), "time": time.time(),
                "windows": [len(a) for a in arrays]}
        data = b"\n".join((
            json.dumps(head, separators=(",", ":")).encode(),
            json.dumps(families, separators=(",", ":")).encode(),
            b"".join(a.tobytes() for a in arrays),
        ))
        path = self.path(self.worker)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def withdraw(self) -> None:
        """Remove this worker's file (it stops): its figures no longer count."""
        for p in (self.path(self.worker), self.path(self.worker).with_suffix(".tmp")):
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    # --- reading -------------------------------------------------------------------------------

    def read(self, worker: int, *, families: bool = False) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """Worker `worker`'s figures and windows, or None when it has none fresh enough; with
        `families`, its Prometheus samples too (under ``"families"``)."""
        try:
            data = self.path(worker).read_bytes()
        except FileNotFoundError:
            return None
        line, _, rest = data.partition(b"\n")
        samples, _, rest = rest.partition(b"\n")
        try:
            head = json.loads(line)
            counts = [int(n) for n in head["windows"]]
            flat = np.frombuffer(rest, dtype=np.float64)
            if flat.size != 2 * sum(counts):
                return None  # not ours, or cut short: skip it this time
            if families:
                head["families"] = json.loads(samples)
        except (ValueError, KeyError, TypeError):
            return None
        if time.time() - float(head.get("time", 0.0)) > self.stale_s:
            return None
        pairs = flat.reshape(-1, 2)
        windows, at = {}, 0
        for name, n in zip(WINDOWS, counts, strict=True):
            windows[name] = pairs[at : at + n]
            at += n
        return head, windows

    def peers(self, *, families: bool = False) -> list[tuple[dict[str, Any], dict[str, np.ndarray]] | None]:
        """Every other worker's figures (None for a worker without a fresh file), by index."""
        return [self.read(i, families=families) for i in range(self.workers) if i != self.worker]
