"""The unit of streamed audio: 100 ms of 44.1 kHz stereo int16, with its metadata."""

from __future__ import annotations

from dataclasses import dataclass

from auralis.music.params import MusicParams

SAMPLE_RATE = 44100
CHANNELS = 2
CHUNK_FRAMES = 4410
CHUNK_SECONDS = CHUNK_FRAMES / SAMPLE_RATE  # 0.1
BYTES_PER_SAMPLE = 2
CHUNK_BYTES = CHUNK_FRAMES * CHANNELS * BYTES_PER_SAMPLE  # 17640


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk of a listener's stream (see the websocket protocol's ``audio`` message)."""

    seq: int  # 0 for a stream's first chunk, then +1, no gaps
    timestamp: float  # time.time() when the synth produced it
    pcm: bytes  # int16 little-endian interleaved L R, exactly CHUNK_BYTES
    render_ms: float  # wall time spent synthesising this chunk
    chord: str | None  # chord label of the latest 'chord ...' marker up to this chunk's end
    section: int  # latest section number (0 before the first marker)
    params: MusicParams  # parameters the music of this chunk follows
    frame: bytes | str | None = None  # the wire frame, encoded once by the stream's encoder

    @property
    def duration_ms(self) -> float:
        return CHUNK_SECONDS * 1000.0
