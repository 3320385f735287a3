"""MP3 for the HTTP streams (``/stream/NAME.mp3``): 128 kbps CBR, 44.1 kHz stereo, through
PyAV's libmp3lame (in PyAV's wheels, like libopus).

An MP3 stream is a plain sequence of self-synchronising frames (1,152 samples each), so it has no
header: a listener joins at any frame. ``encode(chunk)`` returns the frames this chunk completes
(the encoder holds back up to a frame and its look-ahead)."""

from __future__ import annotations

import numpy as np

from auralis.streaming.chunk import SAMPLE_RATE, Chunk
from auralis.streaming.encoders import EncoderUnavailable, codec_unavailable_reason

CONTENT_TYPE = "audio/mpeg"
MP3_BITRATE_KBPS = 128
MP3_FRAME_SAMPLES = 1152
MP3_INSTALL = "pip install av  (PyAV; its wheels include libmp3lame)"


def mp3_unavailable_reason() -> str | None:
    """None when MP3 encoding works here, else why not and what to install."""
    return codec_unavailable_reason("libmp3lame", MP3_INSTALL)


class Mp3Encoder:
    """One continuous MP3 stream. Stateful; one thread at a time."""

    format = "mp3"
    binary = True
    content_type = CONTENT_TYPE
    header: bytes | None = None

    def __init__(self, *, bitrate_kbps: int = MP3_BITRATE_KBPS) -> None:
        reason = mp3_unavailable_reason()
        if reason is not None:
            raise EncoderUnavailable(reason)
        import av

        self._av = av
        ctx = av.CodecContext.create("libmp3lame", "w")
        ctx.sample_rate = SAMPLE_RATE
        ctx.layout = "stereo"
        ctx.format = "s16p"
        ctx.bit_rate = bitrate_kbps * 1000
        ctx.open()
        self._ctx = ctx
        self._resampler = av.AudioResampler(
            format="s16p", layout="stereo", rate=SAMPLE_RATE, frame_size=MP3_FRAME_SAMPLES
        )
        self._closed = False

    def encode(self, chunk: Chunk) -> bytes:
        if self._closed:
            raise RuntimeError("the MP3 encoder is closed")
        samples = np.frombuffer(chunk.pcm, dtype="<i2")
        frame = self._av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        out = []
        for f in self._resampler.resample(frame):
            for packet in self._ctx.encode(f):
                out.append(bytes(packet))
        return b"".join(out)

    def close(self) -> None:
        self._closed = True
