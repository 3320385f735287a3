"""Ogg Opus pages (auralis.streaming.ogg), read back by decoders we did not write: PyAV's Ogg
demuxer and Opus decoder, and Debian's ffprobe/ffmpeg, including a listener who joins
mid-stream (the cached header pages, then live pages whose granule starts high)."""

from __future__ import annotations

import io
import struct
import subprocess

import av
import numpy as np

from auralis.music.params import MusicParams
from auralis.streaming.chunk import CHUNK_BYTES, Chunk
from auralis.streaming.ogg import OggOpusEncoder, ogg_crc, ogg_page


def tone_chunks(n: int, freq: float = 440.0) -> list[Chunk]:
    t = np.arange(n * 4410) / 44100.0
    mono = (np.sin(2 * np.pi * freq * t) * 0.25 * 32767).astype("<i2")
    pcm = np.repeat(mono, 2).tobytes()
    return [Chunk(k, 0.0, pcm[k * CHUNK_BYTES : (k + 1) * CHUNK_BYTES], 0.0, None, 0, MusicParams()) for k in range(n)]


def pages(data: bytes) -> list[tuple[int, int, int, int]]:
    """(flags, granule, serial, sequence) of each page, checking capture pattern and CRC."""
    out = []
    pos = 0
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS"
        flags, granule, serial, seq, crc, nseg = struct.unpack_from("<xBqIIIB", data, pos + 4)
        lacing = data[pos + 27 : pos + 27 + nseg]
        end = pos + 27 + nseg + sum(lacing)
        page = bytearray(data[pos:end])
        page[22:26] = b"\0\0\0\0"
        assert ogg_crc(bytes(page)) == crc
        out.append((flags, granule, serial, seq))
        pos = end
    return out


def test_crc_known_value() -> None:
    # Ogg's CRC is CRC-32/CKSUM (check value 0x765E7680) without the final inversion
    assert ogg_crc(b"123456789") == 0x765E7680 ^ 0xFFFFFFFF
    page = ogg_page([b"x" * 300], granule=5, serial=1, sequence=0)
    assert page[26] == 2 and list(page[27:29]) == [255, 45]  # lacing of a 300-byte packet


def test_header_then_one_page_per_chunk_with_granules() -> None:
    enc = OggOpusEncoder(title="focus")
    head = pages(enc.header)
    assert [p[0] for p in head] == [2, 0] and [p[1] for p in head] == [0, 0]
    assert b"OpusHead" in enc.header and b"TITLE=focus" in enc.header
    body = [enc.encode(c) for c in tone_chunks(10)]
    info = [pages(b)[0] for b in body]
    assert [g for _, g, _, _ in info] == [3840 + 4800 * k for k in range(10)]
    assert [s for *_, s in info] == list(range(2, 12))
    assert all(serial == enc.serial for _, _, serial, _ in head + info)


def test_pyav_decodes_a_listener_joining_mid_stream() -> None:
    enc = OggOpusEncoder()
    body = [enc.encode(c) for c in tone_chunks(40)]
    joined = enc.header + b"".join(body[15:])  # a listener who arrived at chunk 15
    with av.open(io.BytesIO(joined), format="ogg") as f:
        frames = [fr.to_ndarray() for fr in f.decode(audio=0)]
    y = np.concatenate([a.T if a.shape[0] == 2 else a.reshape(-1, 2) for a in frames], axis=0)
    assert abs(len(y) - 25 * 4800) <= 960
    # a 440 Hz tone at -12 dBFS comes back (after the decoder's first packet)
    rms = float(np.sqrt(np.mean(y[4800:].astype(np.float64) ** 2)))
    assert 0.12 < rms < 0.25
    spectrum = np.abs(np.fft.rfft(y[4800 : 4800 + 48000, 0]))
    assert abs(np.argmax(spectrum) * 48000 / 48000 - 440) < 3


def test_ffprobe_reads_the_stream(tmp_path) -> None:
    enc = OggOpusEncoder()
    path = tmp_path / "s.ogg"
    path.write_bytes(enc.header + b"".join(enc.encode(c) for c in tone_chunks(20)))
    p = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=30,
    )
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout.strip() == "opus,48000,2"
