"""Wire formats (issue 9): bytes on the wire, Opus fidelity and CPU, and per-listener server CPU
for json / pcm / opus side by side. Prints a markdown report; reproduce with

    .venv/bin/python bench/bench_wire.py            # full run (about 4 minutes)
    .venv/bin/python bench/bench_wire.py --quick    # smoke run (about 1 minute)

(a) encoder cost and quality against complexity (96 kbps) and bitrate (default complexity), on
    the same rendered chunks: thread CPU per 100 ms chunk, kbps with all framing (AUR2 header,
    u16 packet lengths, the WebSocket frame header), loudness difference (pyloudnorm) and two
    quality proxies after decoding with FFmpeg's Opus decoder (PyAV): waveform SNR after the
    encoder's 312-sample look-ahead, and the mean absolute difference of third-octave band
    levels (50 Hz-16 kHz, 100 ms frames).
(b) Opus at 48 kHz: rendering at 48 kHz in FluidSynth versus rendering at 44.1 kHz and
    resampling (libswresample through PyAV), CPU per chunk.
(c) a real server (`auralis serve`, loopback): wire kbps per format (every byte the client's
    socket receives as WebSocket payload plus the WebSocket frame header; TCP/IP excluded),
    continuity (boundary |delta| against interior |delta|) and the server's CPU per listener,
    json / pcm / opus measured in turn in one run (listeners in a separate process), as
    listeners per core, next to the time `fluidsynth -F` takes for a 10-minute file here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import psutil
import pyloudnorm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from auralis.audio.dither import TpdfDither  # noqa: E402
from auralis.audio.renderer import RenderConfig, Renderer, to_pcm16  # noqa: E402
from auralis.audio.soundfont import find_soundfont  # noqa: E402
from auralis.music.composer import Composer  # noqa: E402
from auralis.music.params import MusicParams  # noqa: E402
from auralis.streaming import encoders as E  # noqa: E402
from auralis.streaming import frames as F  # noqa: E402
from auralis.streaming.chunk import CHUNK_FRAMES, CHUNK_SECONDS, Chunk  # noqa: E402

SF = find_soundfont()


def ws_header(n: int) -> int:
    """Bytes of a server-to-client (unmasked) WebSocket frame header for an n-byte payload."""
    return 2 if n < 126 else 4 if n < 65536 else 10


def render_chunks(seconds: float, seed: int = 3) -> list[Chunk]:
    params = MusicParams().with_preset("focus")
    composer = Composer(params=params, seed=seed)
    n = int(round(seconds / CHUNK_SECONDS))
    dither = TpdfDither(seed)  # as a stream converts its chunks
    with Renderer(SF) as r:
        return [
            Chunk(k, float(k), to_pcm16(r.render(composer.events_until((k + 1) * CHUNK_SECONDS), CHUNK_FRAMES), dither),
                  0.0, None, 0, params)
            for k in range(n)
        ]


def decode(frames: list[bytes]) -> np.ndarray:
    dec = av.CodecContext.create("opus", "r")
    dec.sample_rate, dec.layout = 48000, "stereo"
    parts = []
    for f in frames:
        for p in F.unpack_packets(F.unpack_frame(f).payload):
            for out in dec.decode(av.Packet(p)):
                a = out.to_ndarray()
                parts.append((a.T if out.format.is_planar else a.reshape(-1, 2)).astype(np.float64))
    y = np.concatenate(parts)
    return y / 32768.0 if np.abs(y).max() > 2 else y


def band_levels(x: np.ndarray, rate: int) -> np.ndarray:
    """Third-octave band levels (dB) per 100 ms frame of the mid signal, 50 Hz-16 kHz."""
    mid = x.mean(axis=1)
    n = rate // 10
    frames = mid[: len(mid) // n * n].reshape(-1, n) * np.hanning(n)
    spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, 1 / rate)
    centres = 50 * 2 ** (np.arange(0, 29) / 3)
    out = []
    for c in centres[centres <= 16000]:
        band = (freqs >= c / 2 ** (1 / 6)) & (freqs < c * 2 ** (1 / 6))
        out.append(10 * np.log10(spec[:, band].sum(axis=1) + 1e-12))
    return np.array(out).T


def quality(chunks: list[Chunk], frames: list[bytes]) -> dict:
    from scipy.signal import resample_poly

    x = np.frombuffer(b"".join(c.pcm for c in chunks), "<i2").reshape(-1, 2) / 32768.0
    y = decode(frames)
    x48 = resample_poly(x, 160, 147, axis=0)
    skip = E.OpusPackets.pre_skip
    n = min(len(x48), len(y) - skip)
    ref, got = x48[48000:n], y[48000 + skip : n + skip]
    snr = 10 * np.log10((ref**2).sum() / ((ref - got) ** 2).sum())
    bx, by = band_levels(ref, 48000), band_levels(got, 48000)
    loud = bx > bx.max() - 60  # bands within 60 dB of the loudest (skip near-silent ones)
    lu = pyloudnorm.Meter(48000).integrated_loudness(y) - pyloudnorm.Meter(44100).integrated_loudness(x)
    d = np.abs(np.diff(y, axis=0)).max(axis=1)
    at = np.arange(960, len(y) - 1, 960) - 1
    return {"snr_db": float(snr), "band_err_db": float(np.abs(bx - by)[loud].mean()), "lu": float(lu),
            "boundary_ratio": float(d[at].mean() / np.delete(d, at).mean())}


def encode_run(chunks: list[Chunk], kbps: int, complexity: int) -> dict:
    enc = E.make_encoder("opus", E.EncoderSettings(kbps, complexity))
    cpu = []
    frames = []
    for c in chunks:
        t0 = time.thread_time()
        frames.append(enc.encode(c))
        cpu.append((time.thread_time() - t0) * 1000)
    wire = sum(len(f) + ws_header(len(f)) for f in frames)
    return {"kbps_setting": kbps, "complexity": complexity, "cpu_ms_mean": statistics.fmean(cpu[1:]),
            "cpu_ms_p50": statistics.median(cpu[1:]), "wire_kbps": wire * 8 / (len(chunks) * CHUNK_SECONDS) / 1000,
            **quality(chunks, frames)}


def bench_encoder(seconds: float) -> dict:
    chunks = render_chunks(seconds)
    render_cpu = []
    params = MusicParams().with_preset("focus")
    composer = Composer(params=params, seed=3)
    dither = TpdfDither(3)
    with Renderer(SF) as r:
        for k in range(len(chunks)):
            t0 = time.thread_time()
            to_pcm16(r.render(composer.events_until((k + 1) * CHUNK_SECONDS), CHUNK_FRAMES), dither)
            render_cpu.append((time.thread_time() - t0) * 1000)
    pcm_cpu, json_cpu = [], []
    pe, je = E.make_encoder("pcm"), E.make_encoder("json")
    for c in chunks:
        t0 = time.thread_time()
        pe.encode(c)
        t1 = time.thread_time()
        je.encode(c)
        pcm_cpu.append((t1 - t0) * 1000)
        json_cpu.append((time.thread_time() - t1) * 1000)
    return {
        "seconds": seconds,
        "render_ms_mean": statistics.fmean(render_cpu[1:]),
        "pcm_encode_ms_mean": statistics.fmean(pcm_cpu),
        "json_encode_ms_mean": statistics.fmean(json_cpu),
        "complexity": [encode_run(chunks, 96, cx) for cx in (0, 2, 5, 8, 10)],
        "bitrate": [encode_run(chunks, kb, E.OPUS_COMPLEXITY) for kb in (32, 64, 96, 128, 256)],
    }


def bench_48k(seconds: float) -> dict:
    """CPU per 100 ms of audio: render at 44.1 kHz (+ resample to 48 kHz) vs render at 48 kHz."""
    n = int(round(seconds / CHUNK_SECONDS))
    out = {}
    for rate, frames in ((44100, CHUNK_FRAMES), (48000, 4800)):
        composer = Composer(params=MusicParams().with_preset("focus"), seed=3)
        cpu = []
        dither = TpdfDither(3)
        with Renderer(SF, RenderConfig(sample_rate=rate)) as r:
            for k in range(n):
                t0 = time.thread_time()
                to_pcm16(r.render(composer.events_until((k + 1) * CHUNK_SECONDS), frames), dither)
                cpu.append((time.thread_time() - t0) * 1000)
        out[f"render_{rate}_ms"] = statistics.fmean(cpu[1:])
    chunks = render_chunks(seconds)
    rs = av.AudioResampler(format="s16", layout="stereo", rate=48000, frame_size=960)
    cpu = []
    for c in chunks:
        t0 = time.thread_time()
        fr = av.AudioFrame.from_ndarray(np.frombuffer(c.pcm, "<i2").reshape(1, -1), format="s16", layout="stereo")
        fr.sample_rate = 44100
        rs.resample(fr)
        cpu.append((time.thread_time() - t0) * 1000)
    out["resample_ms"] = statistics.fmean(cpu[1:])
    return out


# --- the server -------------------------------------------------------------------------------


def listeners_proc(url: str, fmt: str, n: int, warmup: float, seconds: float, out: mp.Queue) -> None:
    """n listeners of one format. Once every one has its first chunk, it says "ready" and the
    window [ready + warmup, ready + warmup + seconds) starts: every byte received in it is
    counted (+ the WebSocket header), and the audio seconds that arrived."""
    import websockets

    started = 0
    all_started = asyncio.Event()
    window: list[float] = []

    async def one(i: int) -> dict:
        nonlocal started
        got = {"bytes": 0, "audio_bytes": 0, "audio_s": 0.0, "gaps": 0, "closed": None}
        last = -1
        async with websockets.connect(f"{url}/ws/stream?seed={500 + i}&format={fmt}", compression=None,
                                      max_queue=64, open_timeout=60) as ws:
            try:
                first = True
                while True:
                    msg = await ws.recv()
                    now = time.monotonic()
                    size = len(msg) if isinstance(msg, bytes) else len(msg.encode())
                    if isinstance(msg, bytes):
                        seq = F.unpack_frame(msg).seq
                    elif msg.startswith('{"type":"audio"'):
                        seq = json.loads(msg)["seq"]
                    else:
                        seq = None
                    if seq is not None:
                        got["gaps"] += seq != last + 1
                        last = seq
                        if first:
                            first = False
                            got["started"] = True
                            started += 1
                            if started == n:
                                window[:] = [now + warmup, now + warmup + seconds]
                                out.put("ready")
                                all_started.set()
                    if window and now >= window[1]:
                        break
                    if window and now >= window[0]:
                        got["bytes"] += size + ws_header(size)
                        if seq is not None:
                            got["audio_bytes"] += size + ws_header(size)
                            got["audio_s"] += CHUNK_SECONDS
            except websockets.ConnectionClosed as exc:
                got["closed"] = exc.rcvd.code if exc.rcvd else 1006
        return got

    async def guarded(i: int) -> dict:
        nonlocal started
        try:
            got = await one(i)
        except Exception as exc:  # counted as closed; the others' window must still start
            got = {"bytes": 0, "audio_bytes": 0, "audio_s": 0.0, "gaps": 0, "closed": repr(exc)[:80]}
        if not got.get("started") and not window:  # closed before its first chunk
            started += 1
            if started == n:
                now = time.monotonic()
                window[:] = [now + warmup, now + warmup + seconds]
                out.put("ready")
        return got

    async def main() -> list[dict]:
        return await asyncio.gather(*(guarded(i) for i in range(n)))

    out.put(asyncio.run(main()))


def server_run(listeners: int, seconds: float, rounds: int) -> list[dict]:
    from tests.support.server import running_server

    rows = {fmt: [] for fmt in E.FORMATS}
    warmup = 3.0
    with running_server() as srv:
        proc = psutil.Process(srv.process.pid)
        for _ in range(rounds):
            for fmt in E.FORMATS:  # in turn, on the same server, so the noise is shared
                q: mp.Queue = mp.Queue()
                p = mp.Process(target=listeners_proc, args=(srv.ws_url, fmt, listeners, warmup, seconds, q))
                p.start()
                assert q.get(timeout=120) == "ready"
                time.sleep(warmup)
                t0 = proc.cpu_times()
                w0 = time.monotonic()
                time.sleep(seconds - 0.5)
                t1 = proc.cpu_times()
                wall = time.monotonic() - w0
                res = q.get(timeout=seconds + 60)
                p.join(30)
                cpu_s = (t1.user + t1.system) - (t0.user + t0.system)
                audio_s = sum(r["audio_s"] for r in res) * (seconds - 0.5) / seconds
                rows[fmt].append({
                    # CPU seconds per second of audio delivered to one listener (= cores per
                    # listener in real time; stays right when a loaded machine falls behind)
                    "cpu_per_listener": cpu_s / max(audio_s, 0.1),
                    "cpu_wall_per_listener": cpu_s / wall / listeners,
                    # per second of audio received: audio frames (AUR2 or JSON + WS header)
                    # and everything (control messages too)
                    "kbps": statistics.median(r["audio_bytes"] * 8 / 1000 / max(r["audio_s"], 0.1) for r in res),
                    "all_kbps": statistics.median(r["bytes"] * 8 / 1000 / max(r["audio_s"], 0.1) for r in res),
                    "gaps": sum(r["gaps"] for r in res),
                    "closed": sum(1 for r in res if r["closed"]),
                    "realtime": min(r["audio_s"] for r in res) / seconds,
                })
                time.sleep(1.0)
    out = []
    for fmt, rs in rows.items():
        cpu = statistics.median(r["cpu_per_listener"] for r in rs)
        out.append({"format": fmt, "cpu_pct_per_listener": cpu * 100, "listeners_per_core": 1 / cpu,
                    "kbps": statistics.median(r["kbps"] for r in rs),
                    "all_kbps": statistics.median(r["all_kbps"] for r in rs), "gaps": sum(r["gaps"] for r in rs),
                    "closed": sum(r["closed"] for r in rs), "min_realtime": min(r["realtime"] for r in rs),
                    "runs": [round(r["cpu_per_listener"] * 100, 3) for r in rs]})
    return out


def fluidsynth_10min(tmp: Path) -> float:
    from bench_audio import cli_render
    from auralis.music.export import write_midi

    c = Composer(params=MusicParams().with_preset("focus"), seed=1)
    events = c.events_until(600 - 4) + c.release_all(600 - 4)
    mid = tmp / "piece.mid"
    write_midi(events, mid)
    return statistics.median(cli_render(mid, tmp / "cli.wav")[0] for _ in range(3))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--listeners", type=int, default=10)
    ap.add_argument("--json", default=None)
    ap.add_argument("--sections", default="abc", help="which of (a) (b) (c) to run, e.g. c")
    a = ap.parse_args()
    seconds = 20.0 if a.quick else 60.0
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load0 = os.getloadavg()[0]
    print(f"Run {started}, {os.cpu_count()} cores, 1-min load at start {load0:.1f} (shared machine)\n", flush=True)
    enc = r48 = fs = srv = None
    if "a" in a.sections:
        enc = bench_encoder(seconds)
        print(f"(a) {seconds:g} s of the focus preset (seed 3); render {enc['render_ms_mean']:.2f} ms CPU per chunk; "
              f"pcm frame {enc['pcm_encode_ms_mean'] * 1000:.0f} us, json frame {enc['json_encode_ms_mean'] * 1000:.0f} us\n")
        print("| bitrate | complexity | encode CPU / chunk (mean) | wire kbps | loudness diff | SNR | band level error | boundary/interior |dlt| |")
        print("|---|---|---|---|---|---|---|---|")
        for r in enc["complexity"] + enc["bitrate"]:
            print(f"| {r['kbps_setting']} | {r['complexity']} | {r['cpu_ms_mean']:.2f} ms | {r['wire_kbps']:.1f} | "
                  f"{r['lu']:+.2f} LU | {r['snr_db']:.1f} dB | {r['band_err_db']:.2f} dB | {r['boundary_ratio']:.3f} |")
    if "b" in a.sections:
        r48 = bench_48k(seconds)
        print(f"\n(b) CPU per 100 ms: render at 44.1 kHz {r48['render_44100_ms']:.3f} ms + resample "
              f"{r48['resample_ms']:.3f} ms = {r48['render_44100_ms'] + r48['resample_ms']:.3f} ms; "
              f"render at 48 kHz {r48['render_48000_ms']:.3f} ms\n")
    sys.stdout.flush()
    if "c" in a.sections:
        with tempfile.TemporaryDirectory() as tmp:
            fs = fluidsynth_10min(Path(tmp))
        srv = server_run(a.listeners, 10.0 if a.quick else 20.0, 1 if a.quick else 2)
        print(f"(c) server, {a.listeners} listeners per format, formats in turn; `fluidsynth -F` 10-min file: {fs:.2f} s\n")
        print("| format | audio frames kbps | all messages kbps | server CPU per listener | listeners per core | seq gaps | closed | min real-time | runs (% per listener) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in srv:
            print(f"| {r['format']} | {r['kbps']:.1f} | {r['all_kbps']:.1f} | {r['cpu_pct_per_listener']:.2f}% | {r['listeners_per_core']:.0f} | "
                  f"{r['gaps']} | {r['closed']} | {r['min_realtime']:.3f} | {r['runs']} |")
    load1 = os.getloadavg()[0]
    print(f"\n1-min load at the end {load1:.1f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"encoder": enc, "r48": r48, "fluidsynth_10min_s": fs, "server": srv,
                                            "load": [load0, load1], "started": started}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
