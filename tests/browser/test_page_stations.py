"""The Stations section: live listener counts, a station played by an <audio> element (real
audio through Chromium's own decoders: Ogg Opus, then MP3), My stream paused meanwhile and
back on demand, the Media Session showing the station."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.helpers import snapshot, wait_for, wait_playing
from tests.support.server import ServerProcess

AUDIO_STATE = """() => { const a = document.getElementById('station-audio');
  return { paused: a.paused, t: a.currentTime, src: a.currentSrc, ready: a.readyState,
           err: a.error && a.error.code,
           title: navigator.mediaSession.metadata && navigator.mediaSession.metadata.title }; }"""


def audio_playing(page: Page, seconds: float) -> dict:
    page.wait_for_function(
        f"() => {{ const a = document.getElementById('station-audio'); "
        f"return !a.paused && a.currentTime > {seconds} && a.readyState >= 3; }}",
        timeout=30000,
        polling=100,
    )
    return page.evaluate(AUDIO_STATE)


def test_a_station_plays_in_an_audio_element(page: Page, server: ServerProcess, page_errors) -> None:
    page.goto(server.url)
    wait_playing(page)  # My stream is the default
    focus = page.locator('li[data-station="focus"]')
    expect(focus).to_contain_text("0 listeners")
    expect(page.locator(".station")).to_have_count(4)
    focus.get_by_role("button", name="Play station focus").click()
    st = audio_playing(page, 1.5)
    assert st["src"].endswith("/stream/focus.ogg") and st["err"] is None
    assert st["title"].startswith("focus")
    expect(page.locator("#play-toggle")).to_have_attribute("data-playing", "false")  # My stream paused
    assert snapshot(page)["stats"]["state"] != "playing"
    # the count is live: this page is a listener now
    expect(focus).to_contain_text("1 listener", timeout=15000)
    # the MP3 stream plays too (old players' format), through the same element
    page.evaluate("() => { const a = document.getElementById('station-audio'); "
                  "a.src = a.currentSrc.replace('.ogg', '.mp3'); a.play(); }")
    st = audio_playing(page, 1.0)
    assert st["src"].endswith("/stream/focus.mp3") and st["err"] is None
    # back to My stream: the station stops
    page.locator("#play-toggle").click()
    wait_for(page, "s.stats && s.stats.state === 'playing'", 20)
    assert page.evaluate(AUDIO_STATE)["paused"] is True
    page_errors.check()
