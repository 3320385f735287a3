"""Operator changes to stations, shared by the worker processes of one server (``--workers N``).

A ``PUT /api/stations/NAME`` reaches one worker, which applies it to its own copy of the station
and appends it, with the station time it chose, to ``station-changes.jsonl`` in the workers'
directory (`auralis.monitoring.board`). Every other worker reads the lines it has not seen yet
(every quarter second) and applies each change at that same station time, so every listener
hears it at the same moment whichever worker serves them (`auralis.streaming.stations`: a worker
that has composed past the time recomposes and splices). A worker started later (one that was
started again) applies every change from the start of the file. Appends are single ``write``
calls on an ``O_APPEND`` file, so lines from two workers never interleave.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from auralis.music.params import MusicParams

log = logging.getLogger("auralis.server.worker_relay")

FILE_NAME = "station-changes.jsonl"


class StationRelay:
    def __init__(self, directory: str | os.PathLike[str], worker: int) -> None:
        self.path = Path(directory) / FILE_NAME
        self.worker = worker
        self._offset = 0

    def announce(self, station: str, change: Any) -> None:
        """Tell the other workers about a change this worker applied (`ParamChange`)."""
        line = json.dumps(
            {"worker": self.worker, "station": station, "time": change.time, "params": change.params.as_dict()},
            separators=(",", ":"),
        ) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def apply_new(self, stations: Any) -> int:
        """Apply the other workers' changes not applied yet to `stations` (a running
        `Stations` hub); returns how many."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return 0
        end = data.rfind(b"\n") + 1  # only whole lines; a line being written waits for next time
        applied = 0
        for raw in data[:end].splitlines():
            try:
                entry = json.loads(raw)
                if entry["worker"] == self.worker:
                    continue
                params = MusicParams(**entry["params"])
                stations.set_params(entry["station"], params, at=float(entry["time"]))
                applied += 1
            except Exception as exc:  # one bad line never stops the others
                log.warning("station change not applied", extra={"event": "relay_failed", "error": str(exc)})
        self._offset += end
        return applied
