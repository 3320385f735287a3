"""MP3 chunks (auralis.streaming.mp3) decoded by PyAV's own MP3 decoder and ffprobe."""

from __future__ import annotations

import io
import subprocess

import av
import numpy as np

from auralis.streaming.mp3 import Mp3Encoder
from tests.unit.test_streaming_ogg import tone_chunks


def test_mp3_stream_decodes_from_any_chunk(tmp_path) -> None:
    enc = Mp3Encoder()
    body = [enc.encode(c) for c in tone_chunks(30)]
    assert sum(map(len, body)) > 0
    joined = b"".join(body[10:])  # a listener who joined at chunk 10
    with av.open(io.BytesIO(joined), format="mp3") as f:
        assert f.streams.audio[0].codec_context.sample_rate == 44100
        frames = [fr.to_ndarray() for fr in f.decode(audio=0)]
    y = np.concatenate([a.T for a in frames], axis=0).astype(np.float64)
    assert abs(len(y) - 20 * 4410) < 2 * 1152
    rms = float(np.sqrt(np.mean(y[4410:] ** 2)))
    assert 0.12 < rms < 0.25
    path = tmp_path / "s.mp3"
    path.write_bytes(joined)
    p = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,bit_rate", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=30,
    )
    assert p.returncode == 0 and p.stdout.strip() == "mp3,128000"
