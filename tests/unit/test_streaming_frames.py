"""AUR2 binary frames, checked field by field against the contract's table
(websocket-protocol.md, "Binary audio frames (version 2)")."""

from __future__ import annotations

import struct

import pytest

from auralis.streaming import frames as F

# The contract's table: (offset, size, struct code, field)
TABLE = [
    (0, 4, "4s", "magic"),
    (4, 1, "B", "codec"),
    (5, 1, "B", "channels"),
    (6, 2, "H", "reserved"),
    (8, 4, "I", "sample_rate"),
    (12, 4, "I", "frames"),
    (16, 8, "Q", "seq"),
    (24, 8, "d", "timestamp"),
]


def fields(frame: bytes) -> dict[str, object]:
    """Read each header field at the contract's offset, little-endian, independently of F."""
    out = {}
    for offset, size, code, name in TABLE:
        assert struct.calcsize("<" + code) == size
        (out[name],) = struct.unpack_from("<" + code, frame, offset)
    return out


def test_header_fields_at_the_contract_offsets() -> None:
    pcm = bytes(range(256)) * 4  # 1024 bytes = 256 frames x 2 channels x 2
    frame = F.pack_frame(F.CODEC_PCM, 2, 44100, 256, 2**40 + 7, 1764107400.123, pcm)
    assert frame[:4] == bytes([0x41, 0x55, 0x52, 0x32])
    assert fields(frame) == {
        "magic": b"AUR2", "codec": 1, "channels": 2, "reserved": 0, "sample_rate": 44100,
        "frames": 256, "seq": 2**40 + 7, "timestamp": 1764107400.123,
    }
    assert F.HEADER_BYTES == 32 and frame[32:] == pcm and len(frame) == 32 + 1024
    # little-endian, byte for byte: sample rate 44100 = 0x0000AC44
    assert frame[8:12] == bytes([0x44, 0xAC, 0x00, 0x00])
    f = F.unpack_frame(frame)
    assert (f.codec, f.channels, f.sample_rate, f.frames, f.seq, f.timestamp, f.payload) == (
        1, 2, 44100, 256, 2**40 + 7, 1764107400.123, pcm,
    )
    assert f.codec_name == "pcm"


def test_opus_payload_is_u16_length_prefixed_packets() -> None:
    packets = [b"\x01" * 3, b"\xfc" + b"x" * 299, b"z" * 0xFFFF]
    payload = F.pack_packets(packets)
    # independent reading: u16 little-endian length, then the packet
    pos, seen = 0, []
    while pos < len(payload):
        (n,) = struct.unpack_from("<H", payload, pos)
        seen.append(payload[pos + 2 : pos + 2 + n])
        pos += 2 + n
    assert seen == packets and pos == len(payload)
    assert payload[:2] == b"\x03\x00" and payload[5:7] == (300).to_bytes(2, "little")
    assert F.unpack_packets(payload) == packets
    frame = F.pack_frame(F.CODEC_OPUS, 2, 48000, 2880, 5, 1.5, payload)
    assert fields(frame)["codec"] == 2 and fields(frame)["sample_rate"] == 48000
    assert F.unpack_packets(F.unpack_frame(frame).payload) == packets


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda b: b"AUR1" + b[4:], "magic"),
        (lambda b: b[:4] + b"\x07" + b[5:], "codec"),
        (lambda b: b[:6] + b"\x01\x00" + b[8:], "reserved"),
        (lambda b: b[:-2], "PCM payload"),
        (lambda b: b[:20], "at least 32"),
        (lambda b: b[:24] + struct.pack("<d", float("nan")) + b[32:], "timestamp"),
    ],
)
def test_unpack_refuses_bad_frames(mutate, match) -> None:
    good = F.pack_frame(F.CODEC_PCM, 2, 44100, 4, 0, 0.0, bytes(16))
    F.unpack_frame(good)
    with pytest.raises(F.FrameError, match=match):
        F.unpack_frame(mutate(good))


def test_packets_refused_when_truncated_or_empty() -> None:
    with pytest.raises(F.FrameError, match="runs past"):
        F.unpack_packets(b"\x05\x00abc")
    with pytest.raises(F.FrameError, match="truncated"):
        F.unpack_packets(b"\x01\x00a\x02")
    with pytest.raises(F.FrameError, match="1..65535"):
        F.pack_packets([b""])
    with pytest.raises(F.FrameError, match="1..65535"):
        F.pack_packets([b"x" * 65536])


def test_pack_refuses_inconsistent_values() -> None:
    with pytest.raises(F.FrameError, match="codec"):
        F.pack_frame(3, 2, 44100, 1, 0, 0.0, bytes(4))
    with pytest.raises(F.FrameError, match="PCM payload"):
        F.pack_frame(F.CODEC_PCM, 2, 44100, 2, 0, 0.0, bytes(4))
    with pytest.raises(F.FrameError, match="seq"):
        F.pack_frame(F.CODEC_PCM, 2, 44100, 1, 2**64, 0.0, bytes(4))


def test_with_seq_renumbers_only_the_seq() -> None:
    frame = F.pack_frame(F.CODEC_OPUS, 2, 48000, 960, 12345, 9.25, F.pack_packets([b"abc"]))
    again = F.with_seq(frame, 3)
    assert fields(again)["seq"] == 3
    assert again[:16] == frame[:16] and again[24:] == frame[24:]
