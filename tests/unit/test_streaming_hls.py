"""The HLS segmenter (auralis.streaming.hls), read back by decoders we did not write: Debian's
ffmpeg through the playlist, and PyAV's MPEG-TS demuxer segment by segment.

Continuity is checked sample-exactly with a signal whose phase is a function of station time
(two sines at unrelated frequencies): one repeated or missing AAC frame (1,024 samples) at a
segment boundary would shift everything after it against the reference."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from auralis.streaming.chunk import CHUNK_BYTES, CHUNK_FRAMES, SAMPLE_RATE
from auralis.streaming.hls import (
    PLAYLIST,
    HlsSegmenter,
    check_segment_s,
    segment_name,
)

FREQS = (441.7, 1234.1)


def signal(first_sample: int, n: int) -> np.ndarray:
    """The reference: n stereo frames from station sample `first_sample`, float in [-0.5, 0.5]."""
    t = (first_sample + np.arange(n)) / SAMPLE_RATE
    mono = 0.25 * np.sin(2 * np.pi * FREQS[0] * t) + 0.2 * np.sin(2 * np.pi * FREQS[1] * t + 1.0)
    return np.stack([mono, -mono], axis=1)


def chunk_pcm(index: int) -> bytes:
    return (signal(index * CHUNK_FRAMES, CHUNK_FRAMES) * 32767).astype("<i2").tobytes()


def feed(seg: HlsSegmenter, first: int, n: int) -> list:
    done = []
    for k in range(first, first + n):
        done.extend(seg.feed(k, chunk_pcm(k)))
    return done


def playlist_entries(text: str) -> tuple[int, list[tuple[float, str]]]:
    seq = int(re.search(r"^#EXT-X-MEDIA-SEQUENCE:(\d+)$", text, re.M).group(1))
    return seq, [(float(d), n) for d, n in re.findall(r"^#EXTINF:([0-9.]+),\n(\S+)$", text, re.M)]


def decode_with_ffmpeg(playlist: Path) -> tuple[np.ndarray, str]:
    """Decode the playlist's segments with ffmpeg's HLS demuxer (as a finished, VOD copy: a live
    playlist would have ffmpeg wait for more)."""
    vod = playlist.with_name("vod.m3u8")
    vod.write_text(playlist.read_text() + "#EXT-X-ENDLIST\n")
    out = subprocess.run(
        ["ffmpeg", "-v", "warning", "-i", str(vod), "-f", "s16le", "-ac", "2", "-ar", str(SAMPLE_RATE), "-"],
        capture_output=True, timeout=60, check=True,
    )
    pcm = np.frombuffer(out.stdout, dtype="<i2").reshape(-1, 2).astype(np.float64) / 32767
    return pcm, out.stderr.decode(errors="replace")


def test_segments_numbered_by_station_time_and_a_valid_live_playlist(tmp_path: Path) -> None:
    seg = HlsSegmenter(tmp_path, segment_s=2.0, window=4)
    first = 1_000_013  # mid-segment: the first segment is partial (from chunk 1,000,013 on)
    written = feed(seg, first, 125)  # 12.5 s
    numbers = [w.number for w in written]
    assert numbers == list(range(first // 20, first // 20 + 6))
    assert written[0].duration_s < 1.5  # partial: 7 chunks' worth (+ the encoder's priming frame)
    assert all(abs(w.duration_s - 2.0) < 0.03 for w in written[1:])
    text = (tmp_path / PLAYLIST).read_text()
    seq, entries = playlist_entries(text)
    assert seq == numbers[-4] and [n for _, n in entries] == [segment_name(n) for n in numbers[-4:]]
    assert "#EXT-X-TARGETDURATION:3\n" in text and "#EXT-X-VERSION:3\n" in text
    assert text.count("#EXT-X-PROGRAM-DATE-TIME:") == 4
    assert "#EXT-X-ENDLIST" not in text  # live
    # segments that left the window are kept a while (players may still fetch them), then deleted
    files = sorted(int(p.stem.split("-")[1]) for p in tmp_path.glob("seg-*.ts"))
    assert files == numbers  # 6 written, window 4 + 3 kept: none deleted yet
    feed(seg, first + 125, 60)
    files = sorted(int(p.stem.split("-")[1]) for p in tmp_path.glob("seg-*.ts"))
    seq, _ = playlist_entries((tmp_path / PLAYLIST).read_text())
    assert files[0] == seq - 3 and files[-1] == seq + 3
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind
    seg.close()


def test_decoded_audio_is_continuous_across_segment_boundaries(tmp_path: Path) -> None:
    seg = HlsSegmenter(tmp_path, segment_s=2.0, window=30)
    first = 2_000_000 * 20 + 5
    feed(seg, first, 200)  # 20 s: 10 boundaries
    seg.close()
    pcm, warnings = decode_with_ffmpeg(tmp_path / PLAYLIST)
    assert "rror" not in warnings, warnings
    _, entries = playlist_entries((tmp_path / PLAYLIST).read_text())
    listed = sum(d for d, _ in entries)
    assert abs(len(pcm) / SAMPLE_RATE - listed) < 0.001  # every listed sample decodes, no more
    # The decoded stream starts with the encoder's priming frame, 1,024 samples before the first chunk.
    start = first * CHUNK_FRAMES - 1024
    ref = signal(start, len(pcm))
    skip = 4096  # the priming frame and the encoder's start-up
    err = np.abs(pcm[skip:] - ref[skip:]).reshape(-1)
    # AAC at 128 kbit/s keeps this signal within ~1% of full scale; a frame repeated or lost at a
    # boundary would put everything after it 1,024 samples off: errors of the signal's own size.
    assert np.percentile(err, 99.9) < 0.03, np.percentile(err, 99.9)
    # look at every boundary by itself too
    cum = np.cumsum([d for d, _ in entries])[:-1]
    for b in cum:
        i = round(b * SAMPLE_RATE)
        window = np.abs(pcm[i - 2048 : i + 2048] - ref[i - 2048 : i + 2048])
        assert window.max() < 0.05, (b, window.max())


def test_each_segment_decodes_on_its_own_with_station_time_stamps(tmp_path: Path) -> None:
    seg = HlsSegmenter(tmp_path, segment_s=4.0, window=6)
    first = 3_000_000 * 40
    written = feed(seg, first, 130)
    seg.close()
    for w in written:
        with av.open(str(tmp_path / w.name)) as c:
            stream = c.streams.audio[0]
            assert stream.codec_context.name == "aac" and stream.sample_rate == SAMPLE_RATE
            assert stream.channels == 2
            pts = [p.pts for p in c.demux(stream) if p.pts is not None]
        # 90 kHz MPEG-TS clock = station time (mod 2**33): the segment starts at its number's time
        expected = round(w.start_s * 90000) % 2**33
        assert abs(pts[0] - expected) <= 2, (w.number, pts[0], expected)
    for w in written[1:]:  # a segment starts with the first AAC frame at or after its time
        assert 0 <= w.start_s - w.number * 4.0 < 1024 / SAMPLE_RATE


def test_a_gap_in_the_chunks_is_a_discontinuity_and_numbers_stay_station_time(tmp_path: Path) -> None:
    seg = HlsSegmenter(tmp_path, segment_s=2.0, window=10)
    feed(seg, 400, 50)  # segments 20, 21 written; 22 unfinished
    after = feed(seg, 460, 50)  # skipped 10 chunks (the station was late): segment 22 is dropped
    assert [w.number for w in after] == [23, 24]
    assert after[0].discontinuity and not after[1].discontinuity
    text = (tmp_path / PLAYLIST).read_text()
    seq, entries = playlist_entries(text)
    # numbers must follow on within a playlist: 22 is missing, so the window restarts at 23
    assert seq == 23 and [n for _, n in entries] == ["seg-23.ts", "seg-24.ts"]
    # a gap that stays inside the segment after the last one written keeps the window, marked
    more = feed(seg, 510, 15)  # 25 written (it ended at chunk 520)
    more += feed(seg, 526, 20)  # chunk 525 lost: a new run in 26, adjacent to 25
    assert [w.number for w in more] == [25, 26] and more[1].discontinuity
    text = (tmp_path / PLAYLIST).read_text()
    seq, entries = playlist_entries(text)
    assert [n for _, n in entries] == ["seg-23.ts", "seg-24.ts", "seg-25.ts", "seg-26.ts"]
    assert text.count("#EXT-X-DISCONTINUITY\n") == 2  # before 23 (the restart) and 26
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:0\n" in text
    seg.close()


def test_a_second_writer_continues_the_numbering_and_never_rewrites_a_segment(tmp_path: Path) -> None:
    a = HlsSegmenter(tmp_path, segment_s=2.0, window=6)
    feed(a, 1000, 45)  # 50, 51 written; dies in 52 (close drops the unfinished segment)
    a.close()
    before = {p.name: p.read_bytes() for p in tmp_path.glob("seg-*.ts")}
    assert sorted(before) == ["seg-50.ts", "seg-51.ts"]
    b = HlsSegmenter(tmp_path, segment_s=2.0, window=6)
    written = feed(b, 1048, 40)  # takes over in segment 52 (at its 8th chunk)
    assert [w.number for w in written] == [52, 53]
    assert written[0].duration_s < 1.5
    c = HlsSegmenter(tmp_path, segment_s=2.0, window=6)
    written = feed(c, 1065, 40)  # starts inside 53, which is on disk: begins with 54
    assert [w.number for w in written][0] == 54
    assert written[0].duration_s > 1.9  # a whole segment, not the rest of 53
    assert (tmp_path / "seg-51.ts").read_bytes() == before["seg-51.ts"]  # untouched
    assert not (tmp_path / "seg-50.ts").exists()  # older than c's window less 3: deleted


def test_nothing_is_written_once_the_lease_lapses(tmp_path: Path) -> None:
    allowed = [True]
    seg = HlsSegmenter(tmp_path, segment_s=2.0, may_write=lambda: allowed[0])
    assert [w.number for w in feed(seg, 0, 25)] == [0]
    allowed[0] = False
    for k in range(25, 45):  # segment 1 ends at chunk 40: the writer stops there, writing nothing
        assert seg.feed(k, chunk_pcm(k)) == []
        if seg.closed:
            break
    assert seg.closed and sorted(p.name for p in tmp_path.glob("seg-*")) == ["seg-0.ts"]
    with pytest.raises(RuntimeError, match="closed"):
        seg.feed(45, chunk_pcm(45))


def test_a_reader_never_sees_a_half_written_playlist(tmp_path: Path) -> None:
    seg = HlsSegmenter(tmp_path, segment_s=2.0, window=3)
    bad: list[str] = []
    seen = [0]
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                text = (tmp_path / PLAYLIST).read_text()
            except FileNotFoundError:
                continue
            seen[0] += 1
            if not (text.startswith("#EXTM3U\n") and re.search(r"seg-\d+\.ts\n\Z", text)):
                bad.append(text)

    t = threading.Thread(target=read)
    t.start()
    try:
        feed(seg, 0, 200)
    finally:
        stop.set()
        t.join()
    assert seen[0] > 10 and not bad


@pytest.mark.parametrize("value", [1.9, 6.1, 4.05, 0, -2, float("nan"), True, "4"])
def test_bad_segment_lengths_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="segment_s must be a multiple of 0.1 s within 2..6"):
        check_segment_s(value)  # type: ignore[arg-type]


def test_bad_arguments_and_chunks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="window"):
        HlsSegmenter(tmp_path, window=2)
    with pytest.raises(ValueError, match="bitrate_kbps"):
        HlsSegmenter(tmp_path, bitrate_kbps=32)
    seg = HlsSegmenter(tmp_path)
    with pytest.raises(ValueError, match=f"{CHUNK_BYTES} bytes"):
        seg.feed(0, b"\0" * 100)
    assert check_segment_s(2.0) == 20 and check_segment_s(6) == 60
