"""``auralis record URL --seconds N --out FILE``: the reference client of the streaming
protocol (websocket-protocol.md, version 2). It connects, decodes every format (``json``,
``pcm``, ``opus``), writes what it heard to ``.wav`` or ``.ogg`` and reports seq gaps and
underruns. docs/clients.md walks through it for third-party client authors.

What a client must do, in order:

1. Read text frames as JSON (``status``, ``error``, ``params``, ``now``, and ``audio`` with
   ``format=json``) and binary frames as AUR2 frames (:mod:`auralis.streaming.frames`).
2. Check ``seq``: 0 first, then +1 per chunk. A jump is a gap (audio was lost).
3. Decode: base64 int16 (json); raw int16 (pcm); or feed every Opus packet, in seq order, to
   one decoder at 48 kHz stereo (opus). The first ``OPUS_PRE_SKIP`` decoded samples are the
   encoder's look-ahead and are dropped.
4. Play from a jitter buffer. This recorder plays nothing, but it runs the same clock a
   player would: playback starts ``buffer_ms`` after the first chunk arrives, and a chunk that
   arrives after its play time is an underrun (the playback clock then restarts from it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from auralis.streaming import frames as F

#: Decoded Opus samples at the start of a stream that are encoder look-ahead (RFC 7845 pre-skip).
OPUS_PRE_SKIP = 312
FORMATS = ("json", "pcm", "opus")
OUTPUT_SUFFIXES = (".wav", ".ogg")


class RecordError(RuntimeError):
    """The recording could not be made (refused, closed early, bad arguments)."""


@dataclass
class RecordReport:
    url: str
    format: str
    sample_rate: int = 0
    channels: int = 2
    seconds: float = 0.0
    chunks: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (expected seq, received seq)
    underruns: int = 0
    server_buffering: int = 0
    now_messages: int = 0
    errors: list[str] = field(default_factory=list)
    wire_bytes: int = 0

    @property
    def missing_chunks(self) -> int:
        return sum(got - expected for expected, got in self.gaps)

    @property
    def kbps(self) -> float:
        """Audio frame bytes per second of audio received (WebSocket framing excluded)."""
        return self.wire_bytes * 8 / 1000 / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        out = [
            f"recorded {self.seconds:.2f} s of {self.format} "
            f"({self.sample_rate} Hz, {self.channels} ch) from {self.url}",
            f"chunks {self.chunks} (seq {self.first_seq}-{self.last_seq}), {self.kbps:.1f} kbps of audio frames",
            f"seq gaps: {len(self.gaps)} ({self.missing_chunks} chunks missing)",
        ]
        out += [f"  gap: expected seq {e}, got {g}" for e, g in self.gaps]
        out.append(
            f"underruns: {self.underruns} (player clock with this buffer); "
            f"server buffering notices: {self.server_buffering}"
        )
        out += [f"server error: {e}" for e in self.errors]
        return out


def stream_url(url: str, fmt: str | None) -> str:
    """``url`` as a ws:// or wss:// URL with ``format=fmt`` (if given); http(s) is accepted."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise RecordError(f"URL must start with ws://, wss://, http:// or https://, got {url!r}")
    path = parts.path if parts.path not in ("", "/") else "/ws/stream"
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if fmt is not None:
        if fmt not in FORMATS:
            raise RecordError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        query["format"] = fmt
    return urlunsplit((scheme, parts.netloc, path, urlencode(query), ""))


class _OpusDecoder:
    """One decoder for the whole connection (FFmpeg's Opus decoder, through PyAV)."""

    def __init__(self) -> None:
        try:
            import av
        except ImportError as exc:  # pragma: no cover - av is a dependency
            raise RecordError(f"decoding opus needs PyAV: pip install av ({exc})") from None
        self._av = av
        self._ctx = av.CodecContext.create("opus", "r")
        self._ctx.sample_rate = 48000
        self._ctx.layout = "stereo"
        self._skip = OPUS_PRE_SKIP

    def decode(self, payload: bytes) -> np.ndarray:
        parts = []
        for packet in F.unpack_packets(payload):
            for frame in self._ctx.decode(self._av.Packet(packet)):
                a = frame.to_ndarray()
                a = a.T if frame.format.is_planar else a.reshape(-1, 2)
                if a.dtype.kind == "f":
                    a = np.clip(np.rint(a * 32767.0), -32768, 32767)
                parts.append(a.astype("<i2"))
        out = np.concatenate(parts) if parts else np.zeros((0, 2), "<i2")
        if self._skip:
            cut = min(self._skip, len(out))
            out, self._skip = out[cut:], self._skip - cut
        return out


class _Player:
    """A player's clock without a sound card: counts the chunks that would arrive too late."""

    def __init__(self, buffer_s: float) -> None:
        self.buffer_s = buffer_s
        self.start: float | None = None
        self.queued_s = 0.0  # audio scheduled since `start`
        self.underruns = 0

    def arrive(self, now: float, duration_s: float) -> None:
        if self.start is None:
            self.start = now + self.buffer_s
        elif now > self.start + self.queued_s:  # it ran dry before this chunk came
            self.underruns += 1
            self.start, self.queued_s = now + self.buffer_s, 0.0
        self.queued_s += duration_s


async def record(
    url: str,
    seconds: float,
    out: str | Path,
    *,
    fmt: str | None = None,
    buffer_ms: float = 300.0,
    timeout_s: float | None = None,
) -> RecordReport:
    """Record ``seconds`` of audio from the stream at ``url`` into ``out`` (.wav or .ogg)."""
    import websockets

    out = Path(out)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise RecordError(f"--out must end in .wav or .ogg, got {out.name!r}")
    if not 0 < seconds <= 24 * 3600:
        raise RecordError(f"--seconds must be within 0..86400, got {seconds!r}")
    target = stream_url(url, fmt)
    query = dict(parse_qsl(urlsplit(target).query))
    report = RecordReport(url=target, format=query.get("format", "json"))
    player = _Player(buffer_ms / 1000.0)
    decoder: _OpusDecoder | None = None
    blocks: list[np.ndarray] = []
    have = 0
    deadline = time.monotonic() + (timeout_s if timeout_s is not None else seconds + 30.0)
    async with websockets.connect(target, max_size=F.HEADER_BYTES + (1 << 20)) as ws:
        while report.sample_rate == 0 or have < seconds * report.sample_rate:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RecordError(f"only {have / max(report.sample_rate, 1):.2f} s arrived in time")
            try:
                async with asyncio.timeout(left):  # not wait_for: 3.11's can swallow a Ctrl-C
                    message = await ws.recv()
            except websockets.ConnectionClosed as exc:
                raise RecordError(
                    f"the server closed the stream ({exc.rcvd.code if exc.rcvd else 'no code'}: "
                    f"{exc.rcvd.reason if exc.rcvd else ''})"
                ) from None
            arrived = time.monotonic()
            if isinstance(message, bytes):
                frame = F.unpack_frame(message)
                seq, rate = frame.seq, frame.sample_rate
                if frame.codec == F.CODEC_PCM:
                    pcm = np.frombuffer(frame.payload, "<i2").reshape(-1, frame.channels)
                else:
                    decoder = decoder or _OpusDecoder()
                    pcm = decoder.decode(frame.payload)
                report.channels = frame.channels
                wire = len(message)
                duration = frame.frames / rate
            else:
                msg = json.loads(message)
                kind = msg.get("type")
                if kind == "status" and msg.get("state") == "buffering":
                    report.server_buffering += 1
                elif kind == "error":
                    report.errors.append(f"{msg.get('code')}: {msg.get('message')}")
                elif kind == "now":
                    report.now_messages += 1
                if kind != "audio":
                    continue
                seq, rate = msg["seq"], msg["sample_rate"]
                pcm = np.frombuffer(base64.b64decode(msg["data"]), "<i2").reshape(-1, msg["channels"])
                report.channels = msg["channels"]
                wire = len(message)
                duration = len(pcm) / rate
            expected = 0 if report.last_seq is None else report.last_seq + 1
            if seq != expected:
                report.gaps.append((expected, seq))
            if report.first_seq is None:
                report.first_seq = seq
            report.last_seq = seq
            report.chunks += 1
            report.sample_rate = rate
            report.wire_bytes += wire
            player.arrive(arrived, duration)
            blocks.append(pcm)
            have += len(pcm)
    audio = np.concatenate(blocks)[: int(round(seconds * report.sample_rate))]
    report.seconds = len(audio) / report.sample_rate
    report.underruns = player.underruns
    write_audio(out, audio, report.sample_rate)
    return report


def write_audio(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """int16 interleaved frames to .wav (PCM) or .ogg (Opus, through PyAV)."""
    audio = np.ascontiguousarray(audio, dtype="<i2")
    if path.suffix.lower() == ".wav":
        with wave.open(str(path), "wb") as w:
            w.setnchannels(audio.shape[1])
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(audio.tobytes())
        return
    import av

    layout = "stereo" if audio.shape[1] == 2 else "mono"
    with av.open(str(path), "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48000)
        stream.layout = layout
        stream.bit_rate = 128_000
        resampler = av.AudioResampler(format="s16", layout=layout, rate=48000)
        frame = av.AudioFrame.from_ndarray(audio.reshape(1, -1), format="s16", layout=layout)
        frame.sample_rate = sample_rate
        for out in resampler.resample(frame) + resampler.resample(None):
            container.mux(stream.encode(out))
        container.mux(stream.encode(None))


def main(url: str, seconds: float, out: str, fmt: str | None, buffer_ms: float) -> int:
    """The command: prints the report; 0 when the recording has no seq gap, 1 otherwise."""
    try:
        report = asyncio.run(record(url, seconds, out, fmt=fmt, buffer_ms=buffer_ms))
    except (RecordError, OSError) as exc:
        print(f"auralis record: error: {exc}")
        return 2
    for line in report.lines():
        print(line)
    print(f"wrote {out}")
    return 1 if report.gaps else 0
