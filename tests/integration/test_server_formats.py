"""Binary formats on a real server (issue 9): `format=json|pcm|opus` through one encoder stage,
AUR2 frames, `now` messages, the reference client `auralis record` read back by ffmpeg, and the
bad-input and fault cases. Audio is checked with decoders we did not write (PyAV, ffprobe)."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pyloudnorm
import pytest
import websockets

from auralis.streaming import frames as F
from tests.support.reliability import connect, fault_one_of, first_chunks
from tests.support.server import REPO_ROOT, ServerProcess, running_server

N = 60  # chunks per listener: 6 s


@pytest.fixture(scope="module")
def server() -> ServerProcess:
    with running_server() as srv:
        yield srv


def decode_opus(frames: list[F.Frame]) -> np.ndarray:
    dec = av.CodecContext.create("opus", "r")  # FFmpeg's own Opus decoder
    dec.sample_rate, dec.layout = 48000, "stereo"
    parts = []
    for f in frames:
        for packet in F.unpack_packets(f.payload):
            for out in dec.decode(av.Packet(packet)):
                a = out.to_ndarray()
                parts.append((a.T if out.format.is_planar else a.reshape(-1, 2)).astype(np.float64))
    y = np.concatenate(parts)
    return y / 32768.0 if np.abs(y).max() > 2 else y


def test_three_formats_carry_the_same_music(server: ServerProcess) -> None:
    q = "?seed=5&bpm=90&format="  # seed 5: its first chord changes at 2.7 s, inside the 6 s window

    async def all_three() -> list:
        return await asyncio.gather(*(first_chunks(server.ws_url, q + fmt, N) for fmt in ("json", "pcm", "opus")))

    results = asyncio.run(asyncio.wait_for(all_three(), 60))
    (jt, ja), (pt, pa), (ot, oa) = results
    for texts in (jt, pt, ot):
        assert texts[0]["type"] == "status" and texts[0]["state"] == "connected"
        assert texts[0]["protocol_version"] == 2
    # seq without gaps in every format; binary headers as the contract says
    assert [m["seq"] for m in ja] == [f.seq for f in pa] == [f.seq for f in oa] == list(range(N))
    assert all((f.codec, f.channels, f.sample_rate, f.frames) == (1, 2, 44100, 4410) for f in pa)
    assert all((f.codec, f.channels, f.sample_rate) == (2, 2, 48000) for f in oa)
    assert [f.frames for f in oa] == [3840] + [4800] * (N - 1)
    # same seed, same music: the pcm payloads are the json data, byte for byte
    json_pcm = b"".join(base64.b64decode(m["data"]) for m in ja)
    assert b"".join(f.payload for f in pa) == json_pcm
    # opus decodes (FFmpeg's decoder) to the same loudness
    x = np.frombuffer(json_pcm, "<i2").reshape(-1, 2) / 32768.0
    y = decode_opus(oa)
    lufs_pcm = pyloudnorm.Meter(44100).integrated_loudness(x)
    lufs_opus = pyloudnorm.Meter(48000).integrated_loudness(y)
    assert abs(lufs_pcm - lufs_opus) <= 0.5, (lufs_pcm, lufs_opus)
    # `now` (binary formats only): sent when chord, section or params change, seq = first chunk
    music = [(m["chord"], m["section"], m["params"]) for m in ja]
    expected = [(k, *music[k]) for k in range(N) if k == 0 or music[k] != music[k - 1]]
    for texts in (pt, ot):
        nows = [(m["seq"], m["chord"], m["section"], m["params"]) for m in texts if m["type"] == "now"]
        assert nows == expected
    assert len(expected) >= 2  # the music did change within the window
    assert not [m for m in jt if m["type"] == "now"]


def test_unknown_format_is_refused_naming_format(server: ServerProcess) -> None:
    async def run() -> tuple[int, str]:
        async with await connect(server.ws_url, "?format=mp3") as ws:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            return ws.close_code, ws.close_reason

    code, reason = asyncio.run(run())
    assert code == 1008 and "format" in reason and "opus" in reason


def test_binary_frame_from_a_client_is_invalid_and_audio_goes_on(server: ServerProcess) -> None:
    async def run() -> tuple[list[dict], list[int]]:
        async with await connect(server.ws_url, "?seed=5&format=opus") as ws:
            errors: list[dict] = []
            seqs: list[int] = []
            sent = False
            while len(seqs) < 25:
                msg = await asyncio.wait_for(ws.recv(), 20)
                if isinstance(msg, bytes):
                    seqs.append(F.unpack_frame(msg).seq)
                    if len(seqs) == 5 and not sent:
                        await ws.send(F.pack_frame(F.CODEC_PCM, 2, 44100, 1, 0, 0.0, bytes(4)))
                        sent = True
                elif json.loads(msg)["type"] == "error":
                    errors.append(json.loads(msg))
            return errors, seqs

    errors, seqs = asyncio.run(run())
    assert [(e["code"], e["recoverable"]) for e in errors] == [("INVALID_MESSAGE", True)]
    assert "binary" in errors[0]["message"]
    assert seqs == list(range(25))


def test_encoder_exception_ends_that_stream_only() -> None:
    queries = [f"?seed={i}&format={fmt}" for i, fmt in enumerate(("opus", "opus", "pcm"))]
    with running_server(env={"AURALIS_FAULT_INJECTION": "1"}) as srv:
        logs, status = asyncio.run(asyncio.wait_for(fault_one_of(srv, queries, "?stage=encode", 20), 90))
        assert "injected encoder fault" in srv.logs()
    hit, *others = logs
    assert [e["code"] for e in hit.errors] == ["INTERNAL_ERROR"] and hit.errors[0]["recoverable"] is False
    assert hit.close_code == 1011 and hit.gaps() == 0
    for log in others:
        assert log.errors == [] and log.close_code is None and log.gaps() == 0
    assert status["active_connections"] == 2 and status["synthesis_active"] is True


def _no_av(tmp_path: Path) -> dict[str, str]:
    """An environment where `import av` fails, as on a host without PyAV."""
    fake = tmp_path / "no_av" / "av"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("No module named \'av\' (hidden by the test)")\n')
    return {"PYTHONPATH": str(fake.parent)}


def test_without_the_opus_library_opus_is_refused_and_the_rest_works(tmp_path: Path) -> None:
    env = _no_av(tmp_path)
    doctor = subprocess.run(
        [sys.executable, "-m", "auralis.cli", "doctor"], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=60, env={**__import__("os").environ, "PYTHONPATH": f"{REPO_ROOT}:{env['PYTHONPATH']}"},
    )
    assert doctor.returncode == 1
    assert "Opus encoder (format=opus): MISSING" in doctor.stdout and "pip install av" in doctor.stdout

    async def first(srv: ServerProcess, fmt: str) -> tuple[Any, int | None, str]:
        async with await connect(srv.ws_url, f"?format={fmt}") as ws:
            try:
                while True:
                    msg = await asyncio.wait_for(ws.recv(), 20)
                    if isinstance(msg, bytes):
                        return F.unpack_frame(msg), None, ""
            except websockets.ConnectionClosed:
                return None, ws.close_code, ws.close_reason

    with running_server(env=env) as srv:
        frame, code, reason = asyncio.run(first(srv, "opus"))
        assert frame is None and code == 1008 and "format opus is unavailable" in reason
        frame, code, _ = asyncio.run(first(srv, "pcm"))
        assert code is None and frame.codec == F.CODEC_PCM and frame.seq == 0
        logs = srv.logs()
    assert "opus unavailable" in logs and "pip install av" in logs


@pytest.mark.parametrize("fmt, suffix", [("opus", ".ogg"), ("opus", ".wav"), ("pcm", ".wav"), ("json", ".ogg")])
def test_reference_client_records_a_file_ffmpeg_reads(server: ServerProcess, tmp_path: Path, fmt: str, suffix: str) -> None:
    out = tmp_path / f"rec{suffix}"
    seconds = 3.0
    proc = subprocess.run(
        [sys.executable, "-m", "auralis.cli", "record", f"{server.ws_url}/ws/stream?seed=9", "--seconds",
         str(seconds), "--format", fmt, "--out", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "seq gaps: 0 (0 chunks missing)" in proc.stdout and "underruns: " in proc.stdout
    assert f"of {fmt} (" in proc.stdout
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name,channels",
         "-of", "json", str(out)],
        capture_output=True, text=True, timeout=30, check=True,
    )
    info = json.loads(probe.stdout)
    assert abs(float(info["format"]["duration"]) - seconds) <= 0.2
    assert info["streams"][0]["codec_name"] == ("opus" if suffix == ".ogg" else "pcm_s16le")
    assert info["streams"][0]["channels"] == 2
    # ffmpeg decodes the whole file: the audio is music, not silence
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(out), "-f", "s16le", "-ac", "2", "-ar", "48000", "-"],
        capture_output=True, timeout=30, check=True,
    ).stdout
    x = np.frombuffer(pcm, "<i2").reshape(-1, 2) / 32768.0
    assert abs(len(x) / 48000 - seconds) <= 0.2
    assert 20 * np.log10(np.sqrt((x[48000:] ** 2).mean())) > -50


def test_reference_client_reports_a_refusal(server: ServerProcess, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "auralis.cli", "record", f"{server.ws_url}/ws/stream?bpm=500", "--seconds", "1",
         "--out", str(tmp_path / "x.wav")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2 and "1008" in proc.stdout and "bpm" in proc.stdout
