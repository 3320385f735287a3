"""The page asks for the best audio format the browser decodes: `opus` through WebCodecs'
AudioDecoder, else `pcm` (binary int16 frames); both are judged by the audio tapped at the
AudioContext's destination."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.audio_tap import TAP_SCRIPT, tapped, tapped_frames
from tests.browser.helpers import snapshot, wait_for, wait_playing
from tests.support.server import ServerProcess, running_server

SILENT_BLOCK_RMS = 1e-4  # about -80 dBFS over 20 ms: a dropout, not quiet music


def listen(page: Page, seconds: float) -> tuple[dict, dict]:
    """Play on until `seconds` more of audio has been tapped; returns the page's snapshot then,
    and the analysis of that span (afterwards: the analysis holds the main thread a moment)."""
    start = tapped_frames(page)
    rate = page.evaluate("window.__tap.sampleRate")
    page.wait_for_function(f"window.__tap && window.__tap.n >= {start + int(seconds * rate)}",
                           timeout=(seconds + 10) * 1000, polling=100)
    s = snapshot(page)
    return s, tapped(page, seconds)


def assert_audible_and_continuous(a: dict, seconds: float) -> None:
    assert a is not None and a["seconds"] >= seconds * 0.99, a and a["seconds"]
    assert not a["seams"], a["seams"]  # the tap's blocks are contiguous (tests/browser/audio_tap.py)
    rms = a["blockRms"]
    silent = [i for i, r in enumerate(rms) if r < SILENT_BLOCK_RMS]
    assert not silent, f"{len(silent)} silent 20 ms blocks of {len(rms)} (first at {silent[0] * 20} ms)"
    assert 0.01 < a["peak"] <= 1.0, a["peak"]
    # No click: the largest step between neighbouring samples stays within a few times the
    # 99.9th percentile of steps (a discontinuity at a packet or chunk boundary would stand out).
    assert a["maxStep"] < max(8 * a["p999Step"], 0.05), (a["maxStep"], a["p999Step"])


def test_chromium_plays_opus(page: Page, server: ServerProcess, page_errors):
    page.add_init_script(TAP_SCRIPT)
    page.goto(server.url)
    wait_playing(page, min_frames=4410)
    s = snapshot(page)
    assert s["format"] == "opus", s["formats"]
    assert s["formats"] == ["opus", "pcm", "json"]
    s, a = listen(page, 4.0)
    assert_audible_and_continuous(a, 4.0)
    assert s["stats"]["underruns"] == 0
    dec = s["decoder"]
    assert dec["format"] == "opus" and dec["seqGaps"] == 0 and dec["decoderErrors"] == 0 and dec["chunks"] >= 40
    # The worklet is told the stream's rate: 48 kHz Opus output, whatever the context's rate.
    assert s["stats"]["framesReceived"] >= 40 * 4800
    # Stream details: the format and the measured bitrate (96 kbps Opus plus framing and `now`/pong text).
    page.locator("details.details summary").click()
    expect(page.locator("#st-format")).to_have_text("opus")
    wait_for(page, "s.kbps !== null", 5)
    kbps = snapshot(page)["kbps"]
    assert 80 < kbps < 140, kbps
    expect(page.locator("#st-kbps")).to_have_text(re.compile(r"^\d+ kbps$"))
    shown = int(page.locator("#st-kbps").inner_text().split()[0])
    assert 80 < shown < 140, shown
    # `now` messages drive now playing as `audio` fields did.
    expect(page.locator("#np-chord")).not_to_have_text("—", timeout=5000)
    expect(page.locator("#np-mode")).to_have_text("Aeolian")
    page_errors.check()


def test_falls_back_to_pcm_without_webcodecs(page: Page, server: ServerProcess, page_errors):
    page.add_init_script("delete window.AudioDecoder;")
    page.add_init_script(TAP_SCRIPT)
    page.goto(server.url)
    wait_playing(page, min_frames=4410)
    s = snapshot(page)
    assert s["format"] == "pcm" and s["formats"] == ["pcm", "json"]
    s, a = listen(page, 3.0)
    assert_audible_and_continuous(a, 3.0)
    assert s["stats"]["underruns"] == 0 and s["decoder"]["seqGaps"] == 0
    assert 1200 < s["kbps"] < 1600, s["kbps"]  # 17,672-byte frames, 10 a second: about 1,414 kbps
    expect(page.locator("#st-format")).to_have_text("pcm")
    expect(page.locator("#np-chord")).not_to_have_text("—", timeout=5000)
    page_errors.check()


def test_a_server_without_opus_gets_pcm_at_once(page: Page, tmp_path, page_errors):
    """The server refuses `opus` (no PyAV: close 1008 naming `format`); the page asks for `pcm`."""
    fake = tmp_path / "hidden" / "av"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("No module named \'av\' (hidden by the test)")\n')
    with running_server(env={"PYTHONPATH": str(fake.parent)}) as srv:
        page.goto(srv.url)
        wait_playing(page, min_frames=4410)
        s = snapshot(page)
        assert s["format"] == "pcm" and s["formats"] == ["pcm", "json"]
        assert s["connectAttempts"] == 2, s["connectAttempts"]  # one refusal, then pcm
        assert s["stats"]["underruns"] == 0 and s["fatal"] is None
        expect(page.locator("#st-format")).to_have_text("pcm")
    page_errors.check()
