"""HLS for stations on real servers: the playlist read by Debian's ffmpeg through a real nginx
(started here, serving the directory as production does), segments that follow on sample-exactly,
a playlist that moves in real time, the development route; two instances electing one writer
through a real redis-server, and the other taking over after the writer's SIGKILL; bad settings."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from auralis.streaming.station_score import STATION_EPOCH
from tests.support.hls import parse_playlist, pid_alive, running_nginx, running_redis, wait_until
from tests.support.server import REPO_ROOT, free_port, running_server

SEGMENT_S = 2.0
TS_CLOCK = 90000


@pytest.fixture()
def hls_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="auralis-hls-") as d:
        yield Path(d)


def hls_env(hls_dir: Path, **extra: str) -> dict[str, str]:
    return {"AURALIS_HLS_DIR": str(hls_dir), "AURALIS_HLS_STATIONS": "focus",
            "AURALIS_HLS_SEGMENT_S": str(SEGMENT_S), **extra}


def playlist(url: str) -> tuple[int, list[tuple[str, float]]] | None:
    try:
        r = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None
    return parse_playlist(r.text) if r.status_code == 200 else None


def newest(url: str) -> int:
    """The number of the newest segment the playlist lists."""
    return int(playlist(url)[1][-1][0][4:-3])  # type: ignore[index]


def station(url: str, name: str) -> dict:
    r = httpx.get(f"{url}/api/stations", timeout=10)
    r.raise_for_status()
    return next(s for s in r.json()["stations"] if s["name"] == name)


def test_ffmpeg_reads_the_live_playlist_through_nginx(hls_dir: Path) -> None:
    with running_server(env=hls_env(hls_dir)) as srv, running_nginx(hls_dir) as ngx:
        url = f"{ngx}/hls/focus/index.m3u8"
        wait_until(lambda: (p := playlist(url)) and len(p[1]) >= 3, 40, "three segments listed")
        # nginx and the development route serve the same files with the same headers
        r = httpx.get(url)
        assert r.headers["content-type"] == "application/vnd.apple.mpegurl"
        assert r.headers["cache-control"] == "max-age=1"
        dev = httpx.get(f"{srv.url}/hls/focus/index.m3u8")
        assert dev.status_code == 200 and dev.headers["content-type"] == "application/vnd.apple.mpegurl"
        assert dev.headers["cache-control"] == "max-age=1"
        seg_name = parse_playlist(r.text)[1][0][0]
        seg = httpx.get(f"{ngx}/hls/focus/{seg_name}")
        seg_dev = httpx.get(f"{srv.url}/hls/focus/{seg_name}")
        assert seg.status_code == seg_dev.status_code == 200 and seg.content == seg_dev.content
        assert seg.headers["content-type"] == seg_dev.headers["content-type"] == "video/mp2t"
        assert seg_dev.headers["cache-control"] == "max-age=3600, immutable"
        for bad in ("/hls/focus/../index.m3u8", "/hls/sleep/index.m3u8", "/hls/focus/seg-x.ts", "/hls/focus/a.txt"):
            assert httpx.get(f"{srv.url}{bad}").status_code == 404, bad
        # the station list says where the HLS is, and that this instance writes it
        focus = station(srv.url, "focus")
        assert focus["urls"]["hls"] == f"{srv.url}/hls/focus/index.m3u8"
        assert focus["hls"]["writing"] is True and focus["hls"]["segments_written"] >= 3
        assert "hls" not in station(srv.url, "sleep")["urls"]

        # ffmpeg decodes 12 s of the live playlist through nginx with no error
        t0 = time.monotonic()
        newest0 = newest(url)
        out = subprocess.run(
            ["ffmpeg", "-v", "warning", "-i", url, "-t", "12", "-f", "s16le", "-ac", "2", "-ar", "44100", "-"],
            capture_output=True, timeout=90,
        )
        warnings = out.stderr.decode(errors="replace")
        assert out.returncode == 0 and not warnings.strip(), warnings
        pcm = np.frombuffer(out.stdout, dtype="<i2").reshape(-1, 2)
        assert abs(len(pcm) / 44100 - 12.0) < 0.05
        assert np.sqrt(np.mean(pcm.astype(float) ** 2)) > 30  # music, not silence

        # the playlist moves in real time: one segment per SEGMENT_S of wall time
        newest1 = newest(url)
        elapsed = time.monotonic() - t0
        assert abs((newest1 - newest0) - elapsed / SEGMENT_S) <= 1.5, (newest0, newest1, elapsed)
        # and it is live: its newest segment ends about now in station time (up to the station's
        # render lead, 0.3 s, before; at most a segment and a poll after)
        _, segs = playlist(url)  # type: ignore[misc]
        last_number = int(segs[-1][0][4:-3])
        station_now = time.time() - STATION_EPOCH
        assert -1 <= station_now - (last_number + 1) * SEGMENT_S < 2 * SEGMENT_S + 1

        # the segments follow on: every AAC frame's timestamp is the last one's + 1,024 samples
        names = [n for n, _ in segs]
        data = b"".join(httpx.get(f"{ngx}/hls/focus/{n}").content for n in names)
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "packet=pts",
             "-of", "csv=p=0", "-f", "mpegts", "-"],
            input=data, capture_output=True, timeout=60, check=True,
        )
        pts = np.array([int(x.split(",")[0]) for x in probe.stdout.decode().split() if x.strip(", ")], dtype=np.int64)
        assert len(pts) > 4 * 43
        frame = 1024 * TS_CLOCK / 44100
        elapsed_ticks = np.concatenate([[0], np.cumsum(np.diff(pts) % 2**33)])  # across the 33-bit wrap
        drift = elapsed_ticks - np.arange(len(pts)) * frame
        assert np.abs(drift).max() <= 1.0, np.abs(drift).max()  # 90 kHz rounding only
        # and they carry station time: the first is its segment's time (the MPEG-TS clock wraps)
        first_number = int(names[0][4:-3])
        assert abs((pts[0] - round(first_number * SEGMENT_S * TS_CLOCK) % 2**33)) < frame + 1


def test_two_instances_one_writer_and_a_takeover_after_sigkill(hls_dir: Path) -> None:
    with running_redis() as redis_url:
        env = hls_env(hls_dir, AURALIS_REDIS_URL=redis_url, AURALIS_HLS_LOCK_TTL_S="3")
        with running_server(env=env) as a, running_server(env=env) as b:
            servers = [a, b]

            def writers() -> list:
                return [s for s in servers if station(s.url, "focus")["hls"]["writing"]]

            wait_until(lambda: len(writers()) == 1 and writers()[0] and
                       station(writers()[0].url, "focus")["hls"]["segments_written"] >= 2, 40, "one writer")
            # for a while: always exactly one writer, and the other writes nothing
            end = time.monotonic() + 4
            while time.monotonic() < end:
                assert len(writers()) == 1
                time.sleep(0.2)
            (writer,) = writers()
            other = b if writer is a else a
            assert station(other.url, "focus")["hls"]["segments_written"] == 0
            last = station(writer.url, "focus")["hls"]["last_segment"]

            writer.process.kill()  # SIGKILL: no goodbye, the lock just stops being renewed
            killed = time.monotonic()
            writer.process.wait(10)
            assert not pid_alive(writer.process.pid)
            info = wait_until(
                lambda: (st := station(other.url, "focus")["hls"])["segments_written"] >= 1 and st,
                10, "the other instance writes within 10 s",
            )
            took = time.monotonic() - killed
            print(f"takeover: first segment by the new writer {took:.2f} s after SIGKILL")
            assert took < 10
            # the same numbering (station time): the new segments come after the dead writer's
            url = f"{other.url}/hls/focus/index.m3u8"
            _, segs = playlist(url)  # type: ignore[misc]
            now_info = station(other.url, "focus")["hls"]  # read after the playlist
            assert last < info["last_segment"] <= int(segs[-1][0][4:-3]) <= now_info["last_segment"]
            station_now = time.time() - STATION_EPOCH
            assert -1 <= station_now - (info["last_segment"] + 1) * SEGMENT_S < 2 * SEGMENT_S + 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AURALIS_HLS_SEGMENT_S": "9"}, "segment_s must be a multiple of 0.1 s within 2..6"),
        ({"AURALIS_HLS_STATIONS": "jazz"}, "AURALIS_HLS_STATIONS: unknown station 'jazz'"),
    ],
)
def test_bad_hls_settings_stop_the_server_with_a_clear_message(hls_dir: Path, env: dict, message: str) -> None:
    full = {**os.environ, "AURALIS_HLS_DIR": str(hls_dir), **env,
            "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "auralis.cli", "serve", "--port", str(free_port())],
        env=full, capture_output=True, timeout=60, cwd=REPO_ROOT,
    )
    assert out.returncode != 0
    assert message in out.stderr.decode(errors="replace")
    assert not any(hls_dir.iterdir())  # nothing written
