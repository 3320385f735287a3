"""Files of what a listener heard: a span of a stream's music as Ogg Opus, WAV or MIDI.

`render_file` replays a parameter timeline (`auralis.music.timeline`) and renders the span
offline (`auralis.audio.offline.render_span`); Ogg Opus goes through the streams' own encoder
(`auralis.streaming.ogg.OggOpusEncoder`), so there is one Opus path. MIDI needs no synthesis.
Files are written under a temporary name and renamed, so a failed or stopped render leaves
nothing half-written.

`run_job` is what a render process runs (`auralis.server.render_jobs` keeps a small pool of
them at the lowest priority, so a render only takes CPU the listeners' streams leave): it reports progress
through a queue and stops when the cancel event is set.
"""

from __future__ import annotations

import os
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auralis.music.params import MusicParams
from auralis.music.timeline import Timeline
from auralis.streaming.chunk import CHANNELS, SAMPLE_RATE, Chunk

#: format -> (file extension, media type)
FILE_FORMATS: dict[str, tuple[str, str]] = {
    "ogg": ("ogg", "audio/ogg"),
    "wav": ("wav", "audio/wav"),
    "midi": ("mid", "audio/midi"),
}

ProgressFn = Callable[[int, int], None]


class RenderCancelled(Exception):
    """The render was stopped (the server is shutting down)."""


def render_file(
    timeline: Timeline,
    start: float,
    end: float,
    fmt: str,
    path: str | os.PathLike[str],
    *,
    soundfont: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
    preroll_s: float | None = None,
    opus_bitrate_kbps: int | None = None,
) -> Path:
    """Write ``[start, end)`` seconds of the timeline's music to `path` as `fmt` (ogg, wav, midi)."""
    from auralis.audio.offline import compose_span, render_span
    from auralis.music.export import write_midi

    if fmt not in FILE_FORMATS:
        raise ValueError(f"format must be one of {', '.join(FILE_FORMATS)}, got {fmt!r}")
    out = Path(path)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        if fmt == "midi":
            events = compose_span(timeline, start, end)
            write_midi(events, tmp)
            if progress is not None:
                progress(1, 1)
        else:
            sink: Any = _WavSink(tmp) if fmt == "wav" else _OggSink(tmp, timeline.params, opus_bitrate_kbps)
            try:
                render_span(
                    timeline, start, end, on_pcm=sink.write, soundfont=soundfont, progress=progress,
                    preroll_s=preroll_s,
                )
            finally:
                sink.close()
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


class _WavSink:
    def __init__(self, path: Path) -> None:
        self._wf = wave.open(str(path), "wb")
        self._wf.setnchannels(CHANNELS)
        self._wf.setsampwidth(2)
        self._wf.setframerate(SAMPLE_RATE)

    def write(self, pcm: bytes) -> None:
        self._wf.writeframesraw(pcm)

    def close(self) -> None:
        self._wf.close()  # writes the final sizes into the header


class _OggSink:
    """The span through the streams' Ogg Opus encoder, one page group per block."""

    def __init__(self, path: Path, params: MusicParams, bitrate_kbps: int | None) -> None:
        from auralis.streaming.ogg import OggOpusEncoder

        kwargs = {"bitrate_kbps": bitrate_kbps} if bitrate_kbps is not None else {}
        self._encoder = OggOpusEncoder(title="Auralis", **kwargs)
        self._params = params
        self._seq = 0
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(self._encoder.header)

    def write(self, pcm: bytes) -> None:
        chunk = Chunk(seq=self._seq, timestamp=0.0, pcm=pcm, render_ms=0.0, chord=None, section=0, params=self._params)
        self._file.write(self._encoder.encode(chunk))
        self._seq += 1

    def close(self) -> None:
        self._encoder.close()
        self._file.close()


# --- the render process -------------------------------------------------------------------------

_progress_queue: Any = None
_cancel: Any = None


def lower_priority(nice: int, idle: bool) -> None:
    """Make this process yield to everything else: niced by `nice`, and with `idle` Linux's
    SCHED_IDLE policy and the idle I/O class (it then runs only on CPU and disk time nothing else
    wants). Best effort: where a call is refused the render still runs."""
    if nice:
        try:
            os.nice(nice)
        except OSError:  # pragma: no cover - not permitted here
            pass
    if idle:
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # type: ignore[attr-defined]
        except (AttributeError, OSError):  # pragma: no cover - not Linux
            pass
        try:
            import psutil

            psutil.Process().ionice(psutil.IOPRIO_CLASS_IDLE)
        except (AttributeError, OSError, ImportError):  # pragma: no cover - not Linux
            pass


def init_worker(progress_queue: Any, cancel: Any, nice: int, idle: bool = True) -> None:
    """A render process's initializer: where to report, when to stop, and a lower priority."""
    global _progress_queue, _cancel
    _progress_queue, _cancel = progress_queue, cancel
    lower_priority(nice, idle)


def run_job(job_id: str, timeline_json: dict[str, Any], start: float, end: float, fmt: str, path: str,
            soundfont: str, opus_bitrate_kbps: int | None = None) -> str:
    """Render one job in a render process; returns the file's path."""
    last = [-1.0]

    def report(done: int, total: int) -> None:
        if _cancel is not None and _cancel.is_set():
            raise RenderCancelled("the server is shutting down")
        frac = done / total if total else 1.0
        if _progress_queue is not None and (frac >= 1.0 or frac - last[0] >= 0.01):
            last[0] = frac
            _progress_queue.put((job_id, frac))

    if _progress_queue is not None:
        _progress_queue.put((job_id, 0.0))  # started
    timeline = Timeline.from_json(timeline_json)
    render_file(timeline, start, end, fmt, path, soundfont=soundfont, progress=report,
                opus_bitrate_kbps=opus_bitrate_kbps)
    return path
