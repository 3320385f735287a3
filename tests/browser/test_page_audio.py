"""The page loads, connects and really plays: the worklet outputs non-silent audio."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import CHROMIUM, watch_errors
from tests.browser.helpers import sent_of_type, snapshot, wait_for, wait_playing
from tests.support.chromium import chromium_args
from tests.support.server import ServerProcess

# Forces the AudioContext to 48 kHz before the page's scripts run (as on most laptops).
FORCE_48K = """
(() => {
  const Native = window.AudioContext;
  window.AudioContext = class extends Native {
    constructor(opts = {}) { super({ ...opts, sampleRate: 48000 }); }
  };
})();
"""


def test_page_plays_real_audio_and_reports_telemetry(page: Page, server: ServerProcess, page_errors, screenshots: Path):
    t0 = time.monotonic()
    page.goto(server.url)
    s = wait_playing(page, min_frames=44100)  # a full second of non-silent output
    st = s["stats"]
    assert st["peak"] > 0.01, f"audible level, got peak {st['peak']}"
    assert st["framesReceived"] >= 44100 and st["chunksReceived"] >= 10
    assert st["underruns"] == 0
    assert s["status"] == "connected"
    expect(page.locator("#status-text")).to_have_text("Playing")
    assert s["firstAudioMs"] is not None and s["firstAudioMs"] > 0
    print(f"\ntime to first audible output: {s['firstAudioMs']:.0f} ms after navigation start "
          f"(test wall clock to 1 s of audio: {time.monotonic() - t0:.2f} s)")

    # Now playing shows what is being generated.
    expect(page.locator("#np-key")).to_have_text("C")
    expect(page.locator("#np-mode")).to_have_text("Aeolian")
    expect(page.locator("#np-chord")).not_to_have_text("—", timeout=5000)
    # Meaning, not jargon: the mood (the defaults match none: "Custom"), listening time, recent chords.
    expect(page.locator("#np-mood")).to_have_text("Custom")
    expect(page.locator("#np-elapsed")).to_have_text(__import__("re").compile(r"^\d+ s$"))
    expect(page.locator("#np-description")).not_to_be_empty()
    expect(page.locator("#np-timeline li[aria-current='true']")).to_have_count(1)
    assert page.title() == "Playing · Custom — Auralis"

    # Telemetry every second with the protocol's fields; the server accepts it (end-to-end samples).
    wait_for(page, "s.sent.filter(m => m.type === 'telemetry').length >= 2", 5)
    tel = sent_of_type(page, "telemetry")[-1]
    assert isinstance(tel["played_seq"], int) and tel["played_seq"] >= 10
    assert abs(tel["played_at"] - time.time()) < 2.0
    assert 0 < tel["buffered_ms"] < 2000
    assert tel["underruns"] == 0
    pings = sent_of_type(page, "ping")
    assert pings and all(isinstance(p["timestamp"], float) for p in pings)
    metrics = server.metrics()
    assert metrics["end_to_end_latency_ms"]["samples"] > 0
    assert 0 < metrics["end_to_end_latency_ms"]["p50"] < 2000
    assert snapshot(page)["lastError"] is None

    page.screenshot(path=str(screenshots / "index.png"), full_page=True)
    page.set_viewport_size({"width": 820, "height": 1180})  # tablet portrait
    page.screenshot(path=str(screenshots / "index-tablet.png"), full_page=True)
    page_errors.check()


def test_plays_at_48k_with_sample_rate_conversion(page: Page, server: ServerProcess, page_errors):
    page.add_init_script(FORCE_48K)
    page.goto(server.url)
    s = wait_playing(page, min_frames=48000)
    assert s["sampleRate"] == 48000
    st = s["stats"]
    assert st["underruns"] == 0 and st["peak"] > 0.01
    # 44.1 kHz chunks at 48 kHz: each 4410-frame chunk takes about 4800 output frames (the drift
    # control bends that by at most 0.3%). A jitter-buffer correction (a crossfaded skip or insert
    # of some tens of ms) moves the read head, so measure over a window without one.
    measured = []
    for _ in range(6):
        a = snapshot(page)["stats"]
        time.sleep(1.5)
        b = snapshot(page)["stats"]
        jumps = [b[k] - a[k] for k in ("skips", "softSkips", "softInserts", "underruns")]
        frames_per_chunk = (b["playing"]["frame"] - a["playing"]["frame"]) / (b["playing"]["seq"] - a["playing"]["seq"])
        measured.append((round(frames_per_chunk, 1), jumps))
        if not any(jumps):
            break
    assert not any(jumps), f"every window had a head correction: {measured}"
    assert abs(frames_per_chunk - 4800) < 4800 * 0.01, measured
    page_errors.check()


def test_unsupported_browser_gets_a_clear_message(page: Page, server: ServerProcess):
    page.add_init_script("delete window.AudioWorkletNode;")
    page.goto(server.url)
    box = page.locator("#unsupported")
    expect(box).to_be_visible()
    for name in ("Chrome or Edge 90", "Safari 14", "Firefox"):
        expect(box).to_contain_text(name)
    expect(page.locator("#status")).to_have_attribute("data-state", "disconnected")
    expect(page.locator("#main")).to_be_hidden()


STRICT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; worker-src 'self'; "
              "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def test_pages_work_under_a_strict_content_security_policy(playwright, server: ServerProcess):
    """No inline script or style: the pages keep working with production's CSP (no violations).

    The header is added by interception; Chromium then treats the page as coming from a public
    address, so its local-network check (public page -> 127.0.0.1 WebSocket) is switched off.
    """
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=chromium_args(disable_features=["LocalNetworkAccessChecks"]))
    try:
        page = browser.new_page()
        errors: list[str] = []
        watch_errors(page, errors)

        def with_csp(route):
            if route.request.resource_type != "document":  # a CSP applies from the document; the
                route.continue_()  # dashboard's feed never ends, so it cannot be fetched whole here
                return
            response = route.fetch()
            route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})

        page.route("**/*", with_csp)
        page.add_init_script("""
          window.__cspViolations = [];
          document.addEventListener('securitypolicyviolation',
            (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
        """)
        page.goto(server.url)
        wait_playing(page, min_frames=4410)
        page.goto(f"{server.url}/debug")
        expect(page.locator("#poll-status")).to_have_attribute("data-state", "connected", timeout=5000)
        assert page.evaluate("window.__cspViolations") == []
        assert not errors, errors
    finally:
        browser.close()
