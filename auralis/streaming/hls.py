"""HLS for a station: its PCM becomes AAC in MPEG-TS segments and a live ``index.m3u8``.

:class:`HlsSegmenter` is fed a station's chunks (station chunk index, 100 ms of 44.1 kHz int16
stereo PCM) in order, by one thread (the publisher's writer thread, never the event loop). It
encodes them once with PyAV's AAC encoder (in PyAV's wheels) and writes, into its directory:

* ``seg-N.ts``: one MPEG-TS segment (PyAV's ``mpegts`` muxer) per ``segment_s`` of station time;
* ``index.m3u8``: a live sliding-window playlist of the last ``window`` segments (RFC 8216).

**Numbered by station time.** Segment ``N`` holds station time ``[N x segment_s, (N+1) x
segment_s)`` and its timestamps are station time too (the 90 kHz MPEG-TS clock, which wraps
every 26.5 h, as broadcast clocks do). Stations are deterministic by seed and time, so another
instance that takes over the writing names and stamps its segments the same way: its first
segment (partial: from the chunk it starts at) carries the number of the segment it falls in.

**Continuous.** Within a run (chunks arriving without a gap) one encoder makes one AAC stream,
cut between AAC frames (1,024 samples) at the segment boundaries: decoding the segments in order
gives the audio with nothing repeated or missing. A gap in the chunks (the station skipped ahead
under overload, or restarted) ends the run: the unfinished segment is dropped, a new encoder
starts, and the playlist marks the seam with ``EXT-X-DISCONTINUITY`` when the numbers still
follow on (else the window restarts at the new number, which players take as a live jump).

**Atomic.** Every file is written to a temporary name in the same directory and renamed over
the old one (``os.replace``), so a reader (nginx, a CDN) never sees a half-written playlist or
segment. ``may_write()`` is asked before each write: the publisher's election answers False as
soon as this instance's lease may have lapsed, so a writer that lost its lock writes nothing more.

Why not PyAV's ``hls`` muxer: it numbers segments from its own start and cuts them relative to
its first packet, so a second writer could not continue the first one's numbering, and it gives
no hook to check the lease before a write. Here PyAV encodes and muxes (MPEG-TS); this module
only decides where segments end and writes the playlist's text.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from auralis.streaming.chunk import CHUNK_BYTES, CHUNK_FRAMES, SAMPLE_RATE
from auralis.streaming.encoders import EncoderUnavailable, codec_unavailable_reason
from auralis.streaming.station_score import STATION_EPOCH

log = logging.getLogger("auralis.streaming.hls")

__all__ = [
    "HLS_BITRATE_KBPS",
    "HLS_SEGMENT_S",
    "HLS_WINDOW",
    "PLAYLIST",
    "HlsSegmenter",
    "SegmentInfo",
    "aac_unavailable_reason",
    "segment_name",
]

PLAYLIST = "index.m3u8"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
HLS_SEGMENT_S = 4.0
HLS_SEGMENT_RANGE = (2.0, 6.0)
HLS_WINDOW = 6
HLS_WINDOW_RANGE = (3, 30)
HLS_BITRATE_KBPS = 128
HLS_BITRATE_RANGE = (64, 320)
#: Segments kept on disk after they leave the playlist (a player may still be fetching them).
KEEP_AFTER_WINDOW = 3
AAC_FRAME_SAMPLES = 1024
AAC_INSTALL = "pip install av  (PyAV; its wheels include FFmpeg's AAC encoder)"
SEGMENT_PATTERN = re.compile(r"^seg-(\d{1,15})\.ts$")


def segment_name(n: int) -> str:
    return f"seg-{n}.ts"


def aac_unavailable_reason() -> str | None:
    """None when AAC encoding works here, else why not and what to install."""
    return codec_unavailable_reason("aac", AAC_INSTALL)


def check_segment_s(segment_s: float) -> int:
    """Chunks per segment for ``segment_s`` seconds; ValueError unless it is 2-6 s in whole chunks."""
    lo, hi = HLS_SEGMENT_RANGE
    ok = (
        not isinstance(segment_s, bool)
        and isinstance(segment_s, (int, float))
        and math.isfinite(segment_s)
        and lo <= segment_s <= hi
    )
    chunks = round(segment_s * SAMPLE_RATE / CHUNK_FRAMES) if ok else 0
    if not ok or abs(chunks * CHUNK_FRAMES / SAMPLE_RATE - segment_s) > 1e-6:
        raise ValueError(
            f"segment_s must be a multiple of 0.1 s within {lo:g}..{hi:g}, got {segment_s!r}"
        )
    return chunks


def _check_int(name: str, value: int, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{name} must be an integer within {bounds[0]}..{bounds[1]}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """One segment in the playlist."""

    number: int  # station-time segment number (EXT-X-MEDIA-SEQUENCE counts these)
    duration_s: float  # audio it holds (AAC frames x 1024 / 44100)
    start_s: float  # station time of its first sample
    discontinuity: bool  # a new run starts here (EXT-X-DISCONTINUITY before it)
    size: int  # bytes

    @property
    def name(self) -> str:
        return segment_name(self.number)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, whole."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class HlsSegmenter:
    """One station's HLS writer (see the module docstring). One thread at a time."""

    def __init__(
        self,
        directory: str | Path,
        *,
        segment_s: float = HLS_SEGMENT_S,
        window: int = HLS_WINDOW,
        bitrate_kbps: int = HLS_BITRATE_KBPS,
        may_write: Callable[[], bool] = lambda: True,
        epoch: float = STATION_EPOCH,
    ) -> None:
        self.segment_chunks = check_segment_s(segment_s)
        self.segment_s = self.segment_chunks * CHUNK_FRAMES / SAMPLE_RATE
        self.window = _check_int("window", window, HLS_WINDOW_RANGE)
        self.bitrate_kbps = _check_int("bitrate_kbps", bitrate_kbps, HLS_BITRATE_RANGE)
        reason = aac_unavailable_reason()
        if reason is not None:
            raise EncoderUnavailable(reason)
        import av

        self._av = av
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.may_write = may_write
        self.epoch = epoch
        self.target_duration = math.ceil(self.segment_s + AAC_FRAME_SAMPLES / SAMPLE_RATE - 1e-9)
        self.entries: list[SegmentInfo] = []  # the playlist's window, oldest first
        self.segments_written = 0
        self.runs = 0
        self.closed = False
        self._next_index: int | None = None  # chunk expected next in this run
        self._run_first: int | None = None  # first segment number of this run
        self._fresh_run = False  # the next segment written is a run's first
        self._current: int | None = None  # segment number being gathered
        self._packets: list = []
        self._stream = None  # the encoder (a stream of a container that is never written)
        self._holder = None
        self._time_base = Fraction(1, SAMPLE_RATE)
        self._segment_samples = self.segment_chunks * CHUNK_FRAMES
        self._skip_first = False
        self._discontinuities = 0  # discontinuities that left the window (the playlist counts them)

    # -- feeding ----------------------------------------------------------------------------------
    def feed(self, index: int, pcm: bytes) -> list[SegmentInfo]:
        """Encode chunk ``index``; returns the segments this completed (written, unless
        ``may_write()`` said no: then nothing is written and the segmenter closes)."""
        if self.closed:
            raise RuntimeError("the HLS segmenter is closed")
        if len(pcm) != CHUNK_BYTES:
            raise ValueError(f"a chunk is {CHUNK_BYTES} bytes of PCM, got {len(pcm)}")
        if self._next_index is None or index != self._next_index:
            self._start_run(index)
        self._next_index = index + 1
        av = self._av
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = index * CHUNK_FRAMES
        frame.time_base = self._time_base
        done: list[SegmentInfo] = []
        for packet in self._stream.encode(frame):
            n = packet.pts // self._segment_samples
            if n < self._run_first:
                if self._skip_first:
                    continue  # the rest of a segment that is already on disk
                n = self._run_first  # the encoder's priming frame, just before the run's start
            if self._current is not None and n != self._current:
                info = self._finish_segment()
                if info is None:
                    return done
                done.append(info)
            self._current = n
            self._packets.append(packet)
        return done

    def _start_run(self, index: int) -> None:
        if self._next_index is not None:
            log.warning(
                "HLS %s: chunk %d after %d; a new run starts (unfinished segment dropped)",
                self.directory.name, index, self._next_index - 1,
            )
        self._close_encoder()
        start = first = index // self.segment_chunks
        # Never write a number that is already on disk (a previous writer's, or our last run's):
        # a run starting inside such a segment begins with the next one.
        if self.entries:
            first = max(first, self.entries[-1].number + 1)
        while (self.directory / segment_name(first)).exists():
            first += 1
        self._skip_first = first != start
        av = self._av
        holder = av.open(io.BytesIO(), "w", format="mpegts")
        stream = holder.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        stream.bit_rate = self.bitrate_kbps * 1000
        stream.time_base = self._time_base
        stream.codec_context.time_base = self._time_base
        stream.codec_context.open()
        self._holder, self._stream = holder, stream
        self._run_first = first
        self._current = None
        self._packets = []
        self._fresh_run = True
        self.runs += 1

    def _finish_segment(self) -> SegmentInfo | None:
        """Mux and write the gathered segment, then the playlist; None if writing is not allowed."""
        n, packets = self._current, self._packets
        self._current, self._packets = None, []
        assert n is not None
        if n < self._run_first or not packets:  # pragma: no cover - guarded by feed
            return None
        start_pts = packets[0].pts
        samples = sum(p.duration or AAC_FRAME_SAMPLES for p in packets)
        buf = io.BytesIO()
        # mpegts_copyts: the timestamps as given (station time), without the muxer's 1.4 s offset
        with self._av.open(buf, "w", format="mpegts", options={"mpegts_copyts": "1"}) as out:
            ostream = out.add_stream_from_template(self._stream)
            # the AudioSpecificConfig, from which the muxer writes each frame's ADTS header
            ostream.codec_context.extradata = self._stream.codec_context.extradata
            for p in packets:
                p.stream = ostream
                out.mux(p)
        data = buf.getvalue()
        fresh, self._fresh_run = self._fresh_run, False
        discontinuity = fresh and bool(self.entries)
        if discontinuity and self.entries[-1].number != n - 1:
            # numbers follow on within a playlist: the window restarts at the new number
            self._discontinuities += sum(1 for e in self.entries if e.discontinuity)
            self.entries = []
        info = SegmentInfo(n, samples / SAMPLE_RATE, start_pts / SAMPLE_RATE, discontinuity, len(data))
        if not self.may_write():
            log.warning("HLS %s: the lease lapsed; segment %d not written, writer stops", self.directory.name, n)
            self.close()
            return None
        _atomic_write(self.directory / info.name, data)
        self.entries.append(info)
        while len(self.entries) > self.window:
            self._discontinuities += self.entries.pop(0).discontinuity
        if not self.may_write():
            log.warning("HLS %s: the lease lapsed; playlist not written, writer stops", self.directory.name)
            self.close()
            return None
        _atomic_write(self.directory / PLAYLIST, self.playlist().encode())
        self.segments_written += 1
        self._delete_old()
        return info

    # -- the playlist -----------------------------------------------------------------------------
    def playlist(self) -> str:
        """The live playlist of the current window (RFC 8216, version 3)."""
        first = self.entries[0].number if self.entries else 0
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
            f"#EXT-X-DISCONTINUITY-SEQUENCE:{self._discontinuities}",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        for e in self.entries:
            if e.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            when = dt.datetime.fromtimestamp(self.epoch + e.start_s, dt.UTC)
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{when.isoformat(timespec='milliseconds').replace('+00:00', 'Z')}")
            lines.append(f"#EXTINF:{e.duration_s:.5f},")
            lines.append(e.name)
        return "\n".join(lines) + "\n"

    def _delete_old(self) -> None:
        """Remove segment files older than the window less KEEP_AFTER_WINDOW (any writer's)."""
        if not self.entries:
            return
        oldest_kept = self.entries[0].number - KEEP_AFTER_WINDOW
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            m = SEGMENT_PATTERN.match(name)
            if m and int(m.group(1)) < oldest_kept:
                try:
                    os.unlink(self.directory / name)
                except OSError:
                    pass

    # -- end --------------------------------------------------------------------------------------
    def _close_encoder(self) -> None:
        holder, self._holder, self._stream = self._holder, None, None
        if holder is not None:
            try:
                holder.close()
            except Exception:  # noqa: BLE001 - nothing was written to it
                pass

    def close(self) -> None:
        """Stop: the unfinished segment is dropped (the next writer starts a new one). Idempotent."""
        self.closed = True
        self._packets = []
        self._current = None
        self._close_encoder()
