"""Binary audio frames of the streaming protocol, version 2 (websocket-protocol.md, "Binary
audio frames"): the one place that packs and unpacks them, for the server and for clients.

Layout, little-endian::

    offset size type  field
     0      4   bytes magic b"AUR2"
     4      1   u8    codec: 1 = PCM signed 16-bit interleaved, 2 = Opus
     5      1   u8    channels (2)
     6      2   u16   reserved, 0
     8      4   u32   sample rate of the decoded audio (44100 for PCM, 48000 for Opus)
    12      4   u32   frames: samples per channel this chunk decodes to
    16      8   u64   seq
    24      8   f64   timestamp (server Unix time the chunk was synthesised)
    32    ...         payload

A PCM payload is ``frames * channels`` int16 values. An Opus payload is one or more Opus
packets (RFC 6716), each preceded by its length as a u16.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass

MAGIC = b"AUR2"
CODEC_PCM = 1
CODEC_OPUS = 2
CODECS = {CODEC_PCM: "pcm", CODEC_OPUS: "opus"}
HEADER = struct.Struct("<4sBBHIIQd")
HEADER_BYTES = HEADER.size  # 32
_PACKET_LEN = struct.Struct("<H")
MAX_PACKET_BYTES = 0xFFFF
_SEQ = struct.Struct("<Q")
_SEQ_OFFSET = 16


class FrameError(ValueError):
    """Bytes that are not a valid AUR2 frame; the message says which field is wrong."""


@dataclass(frozen=True, slots=True)
class Frame:
    codec: int
    channels: int
    sample_rate: int
    frames: int
    seq: int
    timestamp: float
    payload: bytes

    @property
    def codec_name(self) -> str:
        return CODECS[self.codec]

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def pack_frame(
    codec: int,
    channels: int,
    sample_rate: int,
    frames: int,
    seq: int,
    timestamp: float,
    payload: bytes,
) -> bytes:
    """One binary frame: the 32-byte header followed by ``payload``."""
    if codec not in CODECS:
        raise FrameError(f"codec must be one of {sorted(CODECS)}, got {codec!r}")
    if not 1 <= channels <= 255:
        raise FrameError(f"channels must be within 1..255, got {channels!r}")
    if not 0 <= seq < 2**64:
        raise FrameError(f"seq must fit a u64, got {seq!r}")
    if codec == CODEC_PCM and len(payload) != frames * channels * 2:
        raise FrameError(
            f"a PCM payload of {frames} frames x {channels} channels is {frames * channels * 2} "
            f"bytes, got {len(payload)}"
        )
    return HEADER.pack(MAGIC, codec, channels, 0, sample_rate, frames, seq, timestamp) + payload


def unpack_frame(data: bytes | bytearray | memoryview) -> Frame:
    """Parse and check one binary frame; FrameError naming the field otherwise."""
    data = bytes(data)
    if len(data) < HEADER_BYTES:
        raise FrameError(f"a frame has at least {HEADER_BYTES} bytes, got {len(data)}")
    magic, codec, channels, reserved, rate, frames, seq, ts = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FrameError(f"magic must be {MAGIC!r}, got {magic!r}")
    if codec not in CODECS:
        raise FrameError(f"unknown codec {codec}")
    if channels < 1:
        raise FrameError("channels must be at least 1")
    if reserved != 0:
        raise FrameError(f"reserved must be 0, got {reserved}")
    if rate < 1:
        raise FrameError("sample rate must be positive")
    if not math.isfinite(ts):
        raise FrameError(f"timestamp must be finite, got {ts!r}")
    payload = data[HEADER_BYTES:]
    if codec == CODEC_PCM and len(payload) != frames * channels * 2:
        raise FrameError(
            f"PCM payload has {len(payload)} bytes, expected {frames * channels * 2} "
            f"({frames} frames x {channels} channels x 2)"
        )
    return Frame(codec, channels, rate, frames, seq, ts, payload)


def pack_packets(packets: Iterable[bytes]) -> bytes:
    """An Opus payload: each packet preceded by its length as a u16."""
    parts = []
    for p in packets:
        if not 0 < len(p) <= MAX_PACKET_BYTES:
            raise FrameError(f"an Opus packet has 1..{MAX_PACKET_BYTES} bytes, got {len(p)}")
        parts.append(_PACKET_LEN.pack(len(p)))
        parts.append(bytes(p))
    return b"".join(parts)


def unpack_packets(payload: bytes) -> list[bytes]:
    """The Opus packets of a payload; FrameError if a length runs past the end."""
    packets = []
    pos, end = 0, len(payload)
    while pos < end:
        if pos + 2 > end:
            raise FrameError(f"truncated packet length at payload byte {pos}")
        (n,) = _PACKET_LEN.unpack_from(payload, pos)
        pos += 2
        if n == 0 or pos + n > end:
            raise FrameError(f"packet of {n} bytes at payload byte {pos - 2} runs past the end")
        packets.append(payload[pos : pos + n])
        pos += n
    return packets


def with_seq(frame: bytes, seq: int) -> bytes:
    """The same frame with another ``seq`` (a shared station's chunk, numbered per listener)."""
    return frame[:_SEQ_OFFSET] + _SEQ.pack(seq) + frame[_SEQ_OFFSET + 8 :]
