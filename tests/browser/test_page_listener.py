"""The listener's experience: a sleep timer to trust, facts from the server, small screens, honest
status (offline, production without a token) and the media session."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from auralis.music.params import MODES, music_facts
from tests.browser.conftest import CHROMIUM, watch_errors
from tests.browser.helpers import snapshot, wait_for, wait_playing
from tests.support.production import auth_headers, make_token, production_env
from tests.support.server import ServerProcess, running_server

COUNTDOWN = re.compile(r"^Fading out in (\d+):(\d\d)$")


def countdown_s(page: Page) -> int:
    m = COUNTDOWN.match(page.locator("#sleep-remaining").inner_text())
    assert m, page.locator("#sleep-remaining").inner_text()
    return int(m.group(1)) * 60 + int(m.group(2))


def test_sleep_timer_survives_pause_resume_and_reload(page: Page, server: ServerProcess, page_errors):
    page.goto(server.url)
    wait_playing(page, min_frames=4410)
    page.select_option("#sleep-timer", "15")
    remaining = page.locator("#sleep-remaining")
    expect(remaining).to_have_text(COUNTDOWN)
    button = page.locator("#play-toggle")

    button.click()  # pause: the timer holds, says so, and does not count
    expect(page.locator("#status")).to_have_attribute("data-state", "paused")
    expect(remaining).to_contain_text("counts down while music plays")
    held = snapshot(page)["sleep"]["remainingMs"]
    page.wait_for_timeout(1500)
    assert snapshot(page)["sleep"]["remainingMs"] == held, "paused time does not count"
    expect(page.locator("#sleep-timer")).to_have_value("15")

    button.click()  # resume: the countdown is shown again and counts on
    wait_playing(page, min_frames=4410)
    expect(remaining).to_have_text(COUNTDOWN)
    first = countdown_s(page)
    assert 14 * 60 <= first <= 15 * 60
    wait_for(page, f"s.sleep.state === 'running' && s.sleep.remainingMs < {held - 2000}", 6)
    page.wait_for_function(
        f"() => {{ const m = /(\\d+):(\\d\\d)$/.exec(document.getElementById('sleep-remaining').textContent);"
        f" return m && Number(m[1]) * 60 + Number(m[2]) < {first}; }}", timeout=5000)

    page.reload()  # still set after a reload, from localStorage with its end time
    expect(page.locator("#sleep-timer")).to_have_value("15")
    wait_playing(page, min_frames=4410)
    expect(remaining).to_have_text(COUNTDOWN)
    assert 13 * 60 <= countdown_s(page) < first
    page.select_option("#sleep-timer", "0")
    expect(remaining).to_have_text("")
    page_errors.check()


def test_a_short_custom_sleep_timer_fades_and_stops(page: Page, server: ServerProcess, page_errors):
    page.goto(server.url)
    wait_playing(page, min_frames=4410)
    labels = page.locator("#sleep-timer option").all_inner_texts()
    assert labels[1] == "5 minutes" and labels[-2] == "3 hours" and labels[-1] == "Custom…", labels
    page.select_option("#sleep-timer", "custom")
    page.fill("#sleep-custom", "0.1")  # six seconds; the fade takes its second half
    page.locator("#sleep-custom-set").click()
    expect(page.locator("#sleep-remaining")).to_have_text(COUNTDOWN)
    wait_for(page, "s.sleepLevel < 0.9 && s.sleepLevel > 0.05 && s.contextState === 'running'", 8)  # fading
    wait_for(page, "s.sleep.state === 'ended' && !s.wsOpen && s.contextState === 'suspended'", 8)
    expect(page.locator("#status-text")).to_have_text("Stopped by the sleep timer")
    expect(page.locator("#play-toggle")).to_have_text("Play")
    expect(page.locator("#sleep-remaining")).to_contain_text("sleep timer ended the music")
    heard = snapshot(page)["stats"]["nonSilentFrames"]
    page.wait_for_timeout(1000)
    assert snapshot(page)["stats"]["nonSilentFrames"] == heard, "silence after the end"
    page.locator("#play-toggle").click()  # and Play starts again, the timer off
    wait_playing(page, min_frames=heard + 4410)
    expect(page.locator("#sleep-timer")).to_have_value("0")
    page_errors.check()


def test_the_selects_and_moods_come_from_the_server(page: Page, server: ServerProcess, page_errors):
    facts = httpx.get(f"{server.url}/api/music", timeout=5).json()
    assert facts == music_facts()
    page.goto(server.url)
    wait_playing(page, min_frames=4410)
    assert page.locator("#mode option").evaluate_all("os => os.map(o => o.value)") == list(MODES)
    assert page.locator(".preset").evaluate_all("bs => bs.map(b => b.dataset.preset)") == [
        p["name"] for p in facts["presets"]]
    expect(page.locator("#mood-custom")).to_be_visible()  # the defaults match no mood
    page.select_option("#mode", "ionian")  # a mode the old page did not know
    wait_for(page, "s.acked && s.acked.mode === 'ionian'", 5)
    expect(page.locator("#np-mode")).to_have_text("Ionian", timeout=8000)
    page.reload()
    expect(page.locator("#mode")).to_have_value("ionian")
    wait_playing(page, min_frames=4410)
    assert snapshot(page)["acked"]["mode"] == "ionian", "kept, not turned into aeolian"
    page.locator(".preset[data-preset='focus']").click()
    expect(page.locator("#np-mood")).to_have_text("Focus", timeout=8000)
    focus = next(p for p in facts["presets"] if p["name"] == "focus")
    expect(page.locator("#np-description")).to_have_text(focus["description"])
    expect(page.locator("#mood-custom")).to_be_hidden()
    assert page.title() == "Playing · Focus — Auralis"
    media = page.evaluate("({t: navigator.mediaSession.metadata.title, a: navigator.mediaSession.metadata.artist,"
                          " s: navigator.mediaSession.playbackState})")
    assert media == {"t": "Focus", "a": "Auralis", "s": "playing"}
    page.locator("#play-toggle").click()
    expect(page.locator("#status")).to_have_attribute("data-state", "paused")
    assert page.evaluate("navigator.mediaSession.playbackState") == "paused"
    assert page.title() == "Paused · Focus — Auralis"
    page_errors.check()


SMALL_TARGETS = """() => {
  const small = [];
  for (const el of document.querySelectorAll('button, select, input, a[href], summary')) {
    const r = el.getBoundingClientRect();
    if (!r.width && !r.height) continue;  // not rendered (hidden)
    if (r.width < 44 || r.height < 44) small.push(`${el.tagName}#${el.id || el.textContent.trim()} ${r.width.toFixed(0)}x${r.height.toFixed(0)}`);
  }
  return small;
}"""


@pytest.mark.parametrize("width,height", [(320, 568), (390, 844), (1280, 900)])
@pytest.mark.parametrize("path", ["/", "/debug"])
def test_small_screens_have_no_overflow_and_large_targets(browser: Browser, server: ServerProcess, width, height,
                                                          path, screenshots):
    ctx = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = ctx.new_page()
        errors: list[str] = []
        watch_errors(page, errors)
        page.goto(server.url + path)
        if path == "/":
            wait_playing(page, min_frames=4410)
            page.locator("details.details summary").click()
            page.select_option("#sleep-timer", "custom")  # the custom row shown too
            expect(page.locator("#sleep-custom")).to_be_visible()
        else:
            expect(page.locator("#poll-status")).to_have_attribute("data-state", "connected", timeout=5000)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.evaluate(SMALL_TARGETS) == []
        name = "index" if path == "/" else "debug"
        page.screenshot(path=str(screenshots / f"{name}-{width}.png"), full_page=True)
        assert not errors, errors
    finally:
        ctx.close()


def test_offline_is_said_and_recovery_clears_the_banner(page: Page, server: ServerProcess, page_errors):
    page.goto(server.url)
    wait_playing(page, min_frames=4410)
    page.context.set_offline(True)
    expect(page.locator("#status")).to_have_attribute("data-state", "offline", timeout=2000)
    expect(page.locator("#status-text")).to_contain_text("Offline")
    page.context.set_offline(False)
    expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=2000)
    wait_for(page, "s.stats.state === 'playing'", 2)
    expect(page.locator("#message")).to_be_hidden()
    page_errors.check()


def test_no_stale_error_banner_after_a_successful_reconnect(page: Page, server: ServerProcess):
    """A proxy closes the first connection as the server closes a slow client; the page reconnects."""
    closed = {"n": 0}

    def handler(ws):
        upstream = ws.connect_to_server()
        if closed["n"] == 0:
            closed["n"] += 1
            ws.close(code=1008, reason="client too slow")
            upstream.close()

    page.route_web_socket("**/ws/stream*", handler)
    page.goto(server.url)
    wait_playing(page, min_frames=22050)
    assert closed["n"] == 1 and snapshot(page)["epoch"] >= 2
    expect(page.locator("#message")).to_be_hidden(timeout=2000)
    expect(page.locator("#status")).to_have_attribute("data-state", "connected")


@pytest.fixture(scope="module")
def production() -> ServerProcess:
    env = production_env(AURALIS_HTTPS_REDIRECT="false")
    with running_server(env=env, headers=auth_headers()) as srv:
        yield srv


def _count_sockets(page: Page) -> list[str]:
    urls: list[str] = []
    page.on("websocket", lambda ws: urls.append(ws.url))
    return urls


def test_production_without_a_token_stops_and_says_why(browser: Browser, production: ServerProcess):
    assert CHROMIUM
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        sockets = _count_sockets(page)
        page.goto(production.url)
        expect(page.locator("#status-text")).to_contain_text("Stopped", timeout=5000)
        expect(page.locator("#message")).to_contain_text("token")
        expect(page.locator("#play-toggle")).to_be_disabled()
        page.wait_for_timeout(6000)  # longer than the backoff's longest wait: no new tries
        assert len(sockets) <= 3, sockets

        # The stream itself refusing (facts answered, no token for the socket): at most 3 tries too.
        page2 = ctx.new_page()
        sockets2 = _count_sockets(page2)
        facts = httpx.get(f"{production.url}/api/music", headers=auth_headers(), timeout=5).text
        page2.route("**/api/music", lambda route: route.fulfill(status=200, content_type="application/json", body=facts))
        page2.goto(production.url)
        expect(page2.locator("#status-text")).to_contain_text("Stopped", timeout=10000)
        expect(page2.locator("#message")).to_contain_text("token")
        page2.wait_for_timeout(6000)
        assert 1 <= len(sockets2) <= 3, sockets2
        assert page2.evaluate("window.auralis.snapshot().connectAttempts") == len(sockets2)
    finally:
        ctx.close()


def test_production_debug_with_an_operator_token_updates_every_2s_for_60s(browser: Browser, production: ServerProcess):
    ctx = browser.new_context()
    try:
        statuses: list[int] = []
        page = ctx.new_page()
        page.on("response", lambda r: statuses.append(r.status))
        page.goto(f"{production.url}/debug?token={make_token(role='operator')}")
        expect(page.locator("#poll-status")).to_have_attribute("data-state", "connected", timeout=5000)
        seen = int(page.evaluate("document.body.dataset.samples"))
        started = time.monotonic()
        while time.monotonic() - started < 60:  # for a minute, each update within 2 s of the last
            page.wait_for_function("(n) => Number(document.body.dataset.samples) > n", arg=seen, timeout=2000, polling=50)
            seen = int(page.evaluate("document.body.dataset.samples"))
        assert seen >= 50
        assert 429 not in statuses, statuses
        expect(page.locator("#t-disconnects-rate")).to_contain_text("/ min")

        # A listener's token is not an operator's: the dashboard says so and stops.
        other = ctx.new_page()
        other.goto(f"{production.url}/debug?token={make_token()}")
        expect(other.locator("#poll-text")).to_contain_text("operator", timeout=5000)
        expect(other.locator("#poll-status")).to_have_attribute("data-state", "disconnected")
    finally:
        ctx.close()
