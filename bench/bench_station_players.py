"""Real players on a station: Debian's ffmpeg decodes ``/stream/focus.ogg`` and ``.mp3`` for 30 s
while a WebSocket ``pcm`` listener records the same station's PCM (the render before any
encoding: the reference). Reports ffmpeg's errors, the decoded duration, and integrated loudness
(pyloudnorm, BS.1770) of each against the reference over the same 30 s of station time.

Run: .venv/bin/python bench/bench_station_players.py [--seconds 30] [--station focus]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyloudnorm
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auralis.streaming import frames as F  # noqa: E402
from tests.support.server import running_server  # noqa: E402


def ffmpeg(url: str, seconds: float, out: Path) -> subprocess.Popen:
    """ffmpeg decoding to a file (a pipe nobody reads would stall it: the server would then
    rightly drop it as a player that stopped reading)."""
    return subprocess.Popen(
        ["/usr/bin/ffmpeg", "-nostdin", "-v", "error", "-y", "-i", url, "-t", str(seconds),
         "-f", "f32le", "-ac", "2", "-ar", "48000", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


async def record_pcm(ws_url: str, station: str, seconds: float) -> np.ndarray:
    parts = []
    async with websockets.connect(f"{ws_url}/ws/stream?station={station}&format=pcm", max_size=None) as ws:
        while len(parts) < seconds * 10:
            m = await ws.recv()
            if isinstance(m, bytes):
                parts.append(np.frombuffer(F.unpack_frame(m).payload, dtype="<i2"))
    return np.concatenate(parts).reshape(-1, 2).astype(np.float64) / 32768.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--station", default="focus")
    args = ap.parse_args()
    with running_server(env={"AURALIS_LOG_LEVEL": "warning"}) as srv:
        time.sleep(2)
        tmp = Path(tempfile.mkdtemp(prefix="bench-players-"))
        procs = {
            ext: ffmpeg(f"{srv.url}/stream/{args.station}.{ext}", args.seconds, tmp / f"{ext}.f32")
            for ext in ("ogg", "mp3")
        }
        ref = asyncio.run(record_pcm(srv.ws_url, args.station, args.seconds))
        meter_ref = pyloudnorm.Meter(44100)
        ref_lufs = meter_ref.integrated_loudness(ref)
        print(f"load {os.getloadavg()[0]:.1f} (shared machine); reference (station PCM over WebSocket, "
              f"{len(ref) / 44100:.1f} s): {ref_lufs:.2f} LUFS")
        for ext, p in procs.items():
            _, err = p.communicate(timeout=args.seconds + 60)
            y = np.fromfile(tmp / f"{ext}.f32", dtype="<f4").reshape(-1, 2).astype(np.float64)
            lufs = pyloudnorm.Meter(48000).integrated_loudness(y)
            print(f"{ext}: ffmpeg rc {p.returncode}, stderr {err.decode().strip()!r}, decoded {len(y) / 48000:.2f} s, "
                  f"{lufs:.2f} LUFS, difference {lufs - ref_lufs:+.2f} LU, peak {np.abs(y).max():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
