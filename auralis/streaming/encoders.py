"""The encoder stage: a stream's PCM chunks become the bytes that go on the wire.

Every stream (a listener's own stream, or a station) owns one encoder per format it serves,
and calls :meth:`Encoder.encode` once per chunk in its render thread; the result is shared by
every send, so the event loop never base64-encodes, resamples or compresses anything.

Formats (websocket-protocol.md, version 2):

* ``json`` -- the version 1 ``audio`` text frame, base64 PCM inside JSON (one string per chunk);
* ``pcm`` -- a binary AUR2 frame with the raw int16 PCM (44.1 kHz);
* ``opus`` -- a binary AUR2 frame with 20 ms Opus packets at 48 kHz, u16-length-prefixed.

**Opus through PyAV.** PyAV (``av``) is the Opus library: its wheels ship libopus (and
libmp3lame, libswresample and the Ogg muxer, which the HTTP streams and the reference client
need too), so nothing is installed by hand and one kept library covers encoding, resampling,
muxing and the tests' independent decoding. ``opuslib`` would only wrap Debian's libopus0
through ctypes: no resampler, no Ogg, no MP3.

**44.1 kHz in, resampled once.** Opus runs at 48 kHz; streams still render at 44.1 kHz and each
Opus encoder resamples with libswresample (through PyAV) before encoding. Rendering at 48 kHz
in FluidSynth instead costs about the same CPU (docs/benchmarks.md) but would split the engine
into two chunk geometries and make a station render twice for its pcm and opus listeners. 100 ms at 44.1 kHz is exactly 4,800 frames at 48 kHz, i.e. five 20 ms packets: the
first chunk carries four (the resampler's delay), every later one five.

**One continuous Opus stream per encoder.** The encoder and resampler keep their state from
chunk to chunk, so a single decoder fed every packet in order reproduces the audio with no
gap. The decoded stream starts with the encoder's look-ahead (``OpusPackets.pre_skip``
samples, 312 = 6.5 ms), as in any Opus stream.

Interface for other parts (stations, HTTP streams): ``make_encoder(fmt, ...)`` gives a
stateful :class:`Encoder` with ``encode(chunk) -> bytes | str`` (one wire frame) and
``close()``. :class:`OpusPackets` is the codec layer below it (``encode(pcm16) -> list of raw
Opus packets``), for muxers that frame packets themselves (Ogg); :func:`with_seq` renumbers a
shared frame for one listener.
"""

from __future__ import annotations

import base64
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from auralis.streaming import frames as F
from auralis.streaming.chunk import CHANNELS, CHUNK_SECONDS, SAMPLE_RATE, Chunk

FORMATS = ("json", "pcm", "opus")
BINARY_FORMATS = ("pcm", "opus")

OPUS_SAMPLE_RATE = 48000
OPUS_PACKET_MS = 20
OPUS_PACKET_FRAMES = OPUS_SAMPLE_RATE * OPUS_PACKET_MS // 1000  # 960
OPUS_BITRATE_KBPS = 96
OPUS_BITRATE_RANGE = (32, 256)
OPUS_COMPLEXITY = 5
OPUS_COMPLEXITY_RANGE = (0, 10)

#: What to run when the Opus library is missing.
OPUS_INSTALL = "pip install av  (PyAV; its wheels include libopus)"


class EncoderUnavailable(RuntimeError):
    """The library a format needs is missing; the message says what to install."""


def codec_unavailable_reason(codec: str, install: str, library: str = "PyAV") -> str | None:
    """None when PyAV can encode with `codec` here, else why not and what to install."""
    try:
        import av
    except ImportError as exc:
        return f"{library} is not installed ({exc}); install it: {install}"
    try:
        av.codec.Codec(codec, "w")
    except Exception as exc:  # noqa: BLE001 - any failure means no encoder
        return f"PyAV {av.__version__} has no {codec} encoder ({exc}); install it: {install}"
    return None


def opus_unavailable_reason() -> str | None:
    """None when Opus encoding works here, else why not and what to install."""
    return codec_unavailable_reason("libopus", OPUS_INSTALL, library="the Opus library PyAV")


def doctor_check() -> tuple[str, tuple[str, str] | None]:
    """``auralis doctor``'s line for the Opus encoder, and (what, install command) if missing."""
    reason = opus_unavailable_reason()
    if reason is None:
        import av

        return f"Opus encoder (format=opus): PyAV {av.__version__} with libopus  ok", None
    return (
        f"Opus encoder (format=opus): MISSING ({reason}); json and pcm still work",
        ("the Opus encoder (PyAV)", OPUS_INSTALL),
    )


class Encoder(ABC):
    """Turns one stream's chunks, in seq order, into wire frames. Stateful: one per stream
    (and format); used by one thread at a time."""

    #: The ``format`` query value this encoder serves.
    format: str
    #: True for binary WebSocket frames (AUR2), False for JSON text frames.
    binary: bool
    #: Sample rate of the audio a client decodes.
    sample_rate: int

    @abstractmethod
    def encode(self, chunk: Chunk) -> bytes | str:
        """The wire frame for ``chunk`` (the next chunk of this stream)."""

    def close(self) -> None:
        """Release codec resources. Idempotent."""


def audio_json(chunk: Chunk, data_b64: str) -> str:
    """The ``audio`` text frame of a chunk. Beyond the protocol's fields it carries the chunk's
    music: ``chord``, ``section`` and ``params`` (the parameters in effect for this chunk)."""
    meta = json.dumps(
        {"chord": chunk.chord, "section": chunk.section, "params": chunk.params.as_dict()},
        separators=(",", ":"),
        allow_nan=False,
    )
    return (
        f'{{"type":"audio","seq":{chunk.seq},"timestamp":{chunk.timestamp!r},'
        f'"duration_ms":{CHUNK_SECONDS * 1000.0!r},"sample_rate":{SAMPLE_RATE},'
        f'"channels":{CHANNELS},"data":"{data_b64}",{meta[1:]}'
    )


class JsonEncoder(Encoder):
    format = "json"
    binary = False
    sample_rate = SAMPLE_RATE

    def encode(self, chunk: Chunk) -> str:
        return audio_json(chunk, base64.b64encode(chunk.pcm).decode("ascii"))


class PcmEncoder(Encoder):
    format = "pcm"
    binary = True
    sample_rate = SAMPLE_RATE

    def encode(self, chunk: Chunk) -> bytes:
        frames = len(chunk.pcm) // (2 * CHANNELS)
        return F.pack_frame(
            F.CODEC_PCM, CHANNELS, SAMPLE_RATE, frames, chunk.seq, chunk.timestamp, chunk.pcm
        )


def _check_range(name: str, value: int, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{name} must be an integer within {bounds[0]}..{bounds[1]}, got {value!r}")
    return value


class OpusPackets:
    """44.1 kHz int16 stereo PCM in, 20 ms Opus packets at 48 kHz out: one continuous Opus
    stream (the codec layer under :class:`OpusEncoder`, and what an Ogg muxer needs)."""

    sample_rate = OPUS_SAMPLE_RATE
    packet_frames = OPUS_PACKET_FRAMES
    #: Encoder look-ahead at the start of the decoded stream, in 48 kHz samples (RFC 7845).
    pre_skip = 312

    def __init__(
        self,
        *,
        bitrate_kbps: int = OPUS_BITRATE_KBPS,
        complexity: int = OPUS_COMPLEXITY,
        input_rate: int = SAMPLE_RATE,
    ) -> None:
        self.bitrate_kbps = _check_range("bitrate_kbps", bitrate_kbps, OPUS_BITRATE_RANGE)
        self.complexity = _check_range("complexity", complexity, OPUS_COMPLEXITY_RANGE)
        reason = opus_unavailable_reason()
        if reason is not None:
            raise EncoderUnavailable(reason)
        import av

        self._av = av
        self.input_rate = input_rate
        ctx = av.CodecContext.create("libopus", "w")
        ctx.sample_rate = OPUS_SAMPLE_RATE
        ctx.layout = "stereo"
        ctx.format = "s16"
        ctx.bit_rate = self.bitrate_kbps * 1000
        ctx.options = {
            "application": "audio",
            "frame_duration": str(OPUS_PACKET_MS),
            "compression_level": str(self.complexity),
        }
        ctx.open()
        if ctx.frame_size != OPUS_PACKET_FRAMES:  # pragma: no cover - libopus guarantees it
            raise EncoderUnavailable(f"libopus chose {ctx.frame_size}-sample packets, not 960")
        self._ctx = ctx
        self._resampler = av.AudioResampler(
            format="s16", layout="stereo", rate=OPUS_SAMPLE_RATE, frame_size=OPUS_PACKET_FRAMES
        )
        self._closed = False

    def encode(self, pcm: bytes) -> list[bytes]:
        """The packets completed by this block of int16 interleaved stereo PCM (in order)."""
        if self._closed:
            raise RuntimeError("the Opus encoder is closed")
        ctx, resampler = self._ctx, self._resampler  # close() from another thread is safe
        samples = np.frombuffer(pcm, dtype="<i2")
        frame = self._av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = self.input_rate
        packets: list[bytes] = []
        for out in resampler.resample(frame):
            for packet in ctx.encode(out):
                packets.append(bytes(packet))
        return packets

    def close(self) -> None:
        """Drop the codec (freed once a concurrent encode, if any, returns). Idempotent."""
        self._closed = True


class OpusEncoder(Encoder):
    format = "opus"
    binary = True
    sample_rate = OPUS_SAMPLE_RATE

    def __init__(self, *, bitrate_kbps: int = OPUS_BITRATE_KBPS, complexity: int = OPUS_COMPLEXITY) -> None:
        self.packets = OpusPackets(bitrate_kbps=bitrate_kbps, complexity=complexity)

    def encode(self, chunk: Chunk) -> bytes:
        packets = self.packets.encode(chunk.pcm)
        return F.pack_frame(
            F.CODEC_OPUS,
            CHANNELS,
            OPUS_SAMPLE_RATE,
            len(packets) * OPUS_PACKET_FRAMES,
            chunk.seq,
            chunk.timestamp,
            F.pack_packets(packets),
        )

    def close(self) -> None:
        self.packets.close()


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    """What the encoders of a server are made with (from the server settings)."""

    opus_bitrate_kbps: int = OPUS_BITRATE_KBPS
    opus_complexity: int = OPUS_COMPLEXITY

    def __post_init__(self) -> None:
        _check_range("opus_bitrate_kbps", self.opus_bitrate_kbps, OPUS_BITRATE_RANGE)
        _check_range("opus_complexity", self.opus_complexity, OPUS_COMPLEXITY_RANGE)


def make_encoder(fmt: str, settings: EncoderSettings = EncoderSettings()) -> Encoder:
    """A new, stateful encoder for one stream. ValueError for an unknown format;
    EncoderUnavailable (saying what to install) when the format's library is missing."""
    if fmt == "json":
        return JsonEncoder()
    if fmt == "pcm":
        return PcmEncoder()
    if fmt == "opus":
        return OpusEncoder(bitrate_kbps=settings.opus_bitrate_kbps, complexity=settings.opus_complexity)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def with_seq(frame: bytes | str, seq: int) -> bytes | str:
    """A shared chunk's frame numbered ``seq`` for one listener (stations count seq from 0 per
    connection). Copies the frame; encodes nothing."""
    if isinstance(frame, bytes):
        return F.with_seq(frame, seq)
    head = '{"type":"audio","seq":'
    if not frame.startswith(head):
        raise ValueError("not an audio text frame")
    return f"{head}{seq}{frame[frame.index(',', len(head)):]}"


