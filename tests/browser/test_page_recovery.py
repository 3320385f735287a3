"""Recovery: server restart, a stalled stream, blocked autoplay."""

from __future__ import annotations

import os
import signal
import time

from playwright.sync_api import Page, Playwright, expect

import tests.support.server as support
from tests.browser.conftest import ARGS_NO_AUTOPLAY, CHROMIUM, watch_errors
from tests.browser.helpers import snapshot, wait_for, wait_playing


def test_server_restart_reconnects_and_resumes_parameters(page: Page, monkeypatch):
    with support.running_server() as srv:
        port = srv.port
        page.goto(srv.url)
        wait_playing(page, min_frames=4410)
        page.select_option("#key", "69")
        page.locator(".preset[data-preset='sleep']").click()
        want = {"key": 69, "mode": "phrygian", "bpm": 40, "intensity": 0.2, "palette": "sleep"}  # the mood brings its palette
        wait_for(page, "JSON.stringify(s.acked) === JSON.stringify(arg)", 5, want)
        epoch = snapshot(page)["epoch"]
        assert srv.stop() < 10

    expect(page.locator("#status")).to_have_attribute("data-state", "disconnected", timeout=5000)
    expect(page.locator("#status-text")).to_contain_text("Disconnected")
    # a few reconnect attempts fail (backoff) while nothing listens
    wait_for(page, f"s.connectAttempts >= {snapshot(page)['connectAttempts'] + 2}", 5)

    monkeypatch.setattr(support, "free_port", lambda: port)  # the same address, as a real restart
    started = time.monotonic()
    with support.running_server() as srv2:
        assert srv2.port == port
        wait_for(page, f"s.wsOpen && s.epoch > {epoch} && s.stats.state === 'playing' && s.stats.playing"
                       f" && s.stats.playing.epoch === s.epoch", 15)
        print(f"\nreconnected and playing {time.monotonic() - started:.2f} s after the new server was up")
        s = snapshot(page)
        assert s["acked"] == want, "the new connection started with the listener's parameters"
        expect(page.locator("#status")).to_have_attribute("data-state", "connected")
        expect(page.locator("#key")).to_have_value("69")
        expect(page.locator("#mode")).to_have_value("phrygian")
        expect(page.locator("#palette")).to_have_value("sleep")
        expect(page.locator("#np-key")).to_have_text("A")
        before = s["stats"]["nonSilentFrames"]
        wait_for(page, f"s.stats.nonSilentFrames > {before + 22050}", 5)


def test_a_stalled_stream_shows_buffering_then_recovers(page: Page):
    with support.running_server() as srv:
        page.goto(srv.url)
        wait_playing(page, min_frames=4410)
        expect(page.locator("#status")).to_have_attribute("data-state", "connected")
        os.kill(srv.process.pid, signal.SIGSTOP)
        try:
            expect(page.locator("#status")).to_have_attribute("data-state", "buffering", timeout=3000)
            expect(page.locator("#status-text")).to_contain_text("Buffering")
            s = snapshot(page)
            assert s["stats"]["underruns"] >= 1 and s["stats"]["state"] == "buffering"
        finally:
            os.kill(srv.process.pid, signal.SIGCONT)
        expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=10000)
        before = snapshot(page)["stats"]["nonSilentFrames"]
        wait_for(page, f"s.stats.nonSilentFrames > {before + 22050}", 5)


def test_blocked_autoplay_shows_a_start_affordance_and_a_click_starts(playwright: Playwright, server: support.ServerProcess):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS_NO_AUTOPLAY)
    try:
        page = browser.new_page()
        errors: list[str] = []
        watch_errors(page, errors)
        page.goto(server.url)
        button = page.locator("#play-toggle")
        # Before the first click the play control offers to play, not to pause, and nothing is red.
        expect(page.locator("#play-hint")).to_contain_text("waits for a click")
        expect(button).to_have_text("Play")
        expect(button).to_have_attribute("aria-pressed", "false")
        expect(page.locator("#status")).to_have_attribute("data-state", "ready")
        expect(page.locator("#status-text")).to_contain_text("press Play")
        wait_for(page, "s.wsOpen", 5)  # the stream is already connected, its first chunks waiting
        s = snapshot(page)
        assert s["contextState"] == "suspended"
        assert not s["stats"] or s["stats"]["nonSilentFrames"] == 0
        assert page.title().startswith("Ready · ")
        button.click()
        expect(button).to_have_text("Pause")
        s = wait_playing(page, min_frames=22050, timeout_s=10)
        assert s["contextState"] == "running", "one click starts the music (and does not pause it again)"
        expect(button).to_have_text("Pause")
        expect(page.locator("#play-hint")).to_have_text("")
        expect(page.locator("#status")).to_have_attribute("data-state", "connected")
        assert not errors, errors
    finally:
        browser.close()


def test_any_key_starts_blocked_audio(playwright: Playwright, server: support.ServerProcess):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS_NO_AUTOPLAY)
    try:
        page = browser.new_page()
        page.goto(server.url)
        expect(page.locator("#status")).to_have_attribute("data-state", "ready")
        page.keyboard.press("Space")
        wait_playing(page, min_frames=4410, timeout_s=10)
        expect(page.locator("#play-toggle")).to_have_text("Pause")
        page.keyboard.press("KeyA")  # any other key does not stop it
        page.keyboard.press("Space")  # Space with nothing focused toggles: pause
        expect(page.locator("#status")).to_have_attribute("data-state", "paused")
        wait_for(page, "!s.wsOpen && s.contextState === 'suspended'", 5)
    finally:
        browser.close()


def test_pause_stops_the_stream_and_play_resumes_it(page: Page, server: support.ServerProcess):
    page.goto(server.url)
    wait_playing(page, min_frames=4410)
    button = page.locator("#play-toggle")
    button.click()
    expect(page.locator("#status")).to_have_attribute("data-state", "paused")
    expect(button).to_have_text("Play")
    wait_for(page, "!s.wsOpen && s.contextState === 'suspended'", 5)
    heard = snapshot(page)["stats"]["nonSilentFrames"]
    button.click()
    expect(button).to_have_text("Pause")
    wait_for(page, "s.wsOpen && s.contextState === 'running'", 5)
    wait_playing(page, min_frames=heard + 22050)
    expect(page.locator("#status")).to_have_attribute("data-state", "connected")
