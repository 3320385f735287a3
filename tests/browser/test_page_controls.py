"""Every control sends the right message; the server's `params` ack updates the page."""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect

from tests.browser.helpers import sent_of_type, snapshot, wait_for, wait_playing
from tests.support.server import ServerProcess

PRESETS = {
    "focus": {"mode": "dorian", "bpm": 60, "intensity": 0.5, "palette": "focus"},
    "meditation": {"mode": "aeolian", "bpm": 50, "intensity": 0.3, "palette": "meditation"},
    "sleep": {"mode": "phrygian", "bpm": 40, "intensity": 0.2, "palette": "sleep"},
    "bright": {"mode": "lydian", "bpm": 70, "intensity": 0.6, "palette": "bright"},
}


def updates(page: Page) -> list[dict]:
    return [m["params"] for m in sent_of_type(page, "update_params")]


def test_each_control_sends_update_params_and_the_ack_updates_the_ui(page: Page, server: ServerProcess, page_errors):
    page.goto(server.url)
    wait_playing(page, min_frames=4410)

    page.select_option("#key", "62")
    wait_for(page, "s.acked && s.acked.key === 62", 5)
    assert updates(page)[-1] == {"key": 62}
    expect(page.locator("#np-key")).to_have_text("D", timeout=8000)  # audible once effective_seq plays

    page.select_option("#mode", "lydian")
    wait_for(page, "s.acked && s.acked.mode === 'lydian'", 5)
    assert updates(page)[-1] == {"mode": "lydian"}
    expect(page.locator("#np-mode")).to_have_text("Lydian", timeout=8000)

    # Sliders by keyboard: three steps in quick succession are debounced into one message.
    before = len(updates(page))
    page.focus("#intensity")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    wait_for(page, "s.acked && Math.abs(s.acked.intensity - 0.65) < 1e-9", 5)
    new = updates(page)[before:]
    assert new == [{"intensity": 0.65}], new
    expect(page.locator("#intensity-out")).to_have_text("0.65")

    page.focus("#bpm")
    page.keyboard.press("End")
    wait_for(page, "s.acked && s.acked.bpm === 90", 5)
    assert updates(page)[-1] == {"bpm": 90}
    expect(page.locator("#bpm-out")).to_have_text("90 BPM")

    # The palette selector lists the server's palettes and sends the choice.
    names = page.eval_on_selector_all("#palette option", "os => os.map((o) => o.value)")
    assert names[0] == "classic" and "glass" in names and len(names) >= 8
    page.select_option("#palette", "glass")
    wait_for(page, "s.acked && s.acked.palette === 'glass'", 5)
    assert updates(page)[-1] == {"palette": "glass"}
    expect(page.locator("#palette-description")).to_contain_text("Music box")

    # Volume is local: no message, but it is applied and kept.
    n = len(snapshot(page)["sent"])
    page.focus("#volume")
    page.keyboard.press("Home")
    wait_for(page, "s.volume === 0", 3)
    assert not [m for m in snapshot(page)["sent"][n:] if m["type"] in ("update_params", "select_preset")]
    expect(page.locator("#volume-out")).to_have_text("0%")

    # A value the server did not confirm never sticks: the controls show the server's params.
    s = snapshot(page)
    assert s["params"] == s["acked"] == {"key": 62, "mode": "lydian", "bpm": 90, "intensity": 0.65, "palette": "glass"}
    # Parameter change to audible: measured from the ack to played_seq reaching effective_seq.
    wait_for(page, "s.paramLatenciesMs.length >= 3", 10)
    lat = snapshot(page)["paramLatenciesMs"]
    print(f"\nparameter change to audible (ms): {[round(x) for x in lat]}")
    assert all(0 <= x < 5000 for x in lat)  # the protocol's bound: audible within 5 s
    page_errors.check()


def test_presets_set_the_documented_values_and_keep_the_key(page: Page, server: ServerProcess, page_errors):
    page.goto(server.url)
    wait_playing(page, min_frames=4410)
    page.select_option("#key", "64")
    wait_for(page, "s.acked && s.acked.key === 64", 5)
    for name, values in PRESETS.items():
        button = page.locator(f".preset[data-preset='{name}']")
        button.click()
        want = {"key": 64, **values}
        wait_for(page, f"JSON.stringify(s.acked) === JSON.stringify({json.dumps(want)})", 5)
        assert sent_of_type(page, "select_preset")[-1]["preset"] == name
        # The ack (not a local guess) moved every control to the preset's values.
        expect(page.locator("#mode")).to_have_value(values["mode"])
        expect(page.locator("#bpm")).to_have_value(str(values["bpm"]))
        expect(page.locator("#intensity")).to_have_value(str(values["intensity"]))
        expect(page.locator("#key")).to_have_value("64")
        expect(button).to_have_attribute("aria-pressed", "true")
        assert page.locator(".preset[aria-pressed='true']").count() == 1
    page_errors.check()


def test_settings_survive_a_reload_and_are_sent_on_connect(page: Page, server: ServerProcess, page_errors):
    page.goto(server.url)
    wait_playing(page, min_frames=4410)
    page.select_option("#key", "67")
    page.locator(".preset[data-preset='meditation']").click()
    wait_for(page, "s.acked && s.acked.key === 67 && s.acked.mode === 'aeolian' && s.acked.bpm === 50", 5)
    page.focus("#volume")
    page.keyboard.press("PageDown")  # 80 -> 70
    wait_for(page, "s.volume === 70", 3)

    page.reload()
    # Restored before any server message, and the new connection starts with them (first status).
    expect(page.locator("#key")).to_have_value("67")
    expect(page.locator("#mode")).to_have_value("aeolian")
    expect(page.locator("#bpm")).to_have_value("50")
    expect(page.locator("#intensity")).to_have_value("0.3")
    expect(page.locator("#volume")).to_have_value("70")
    wait_playing(page, min_frames=4410)
    s = snapshot(page)
    assert s["acked"] == {"key": 67, "mode": "aeolian", "bpm": 50, "intensity": 0.3, "palette": "meditation"}
    assert not sent_of_type(page, "update_params"), "the query string carried them; nothing to re-send"
    expect(page.locator("#np-key")).to_have_text("G")
    page_errors.check()


def test_server_errors_are_shown_and_a_refused_change_is_undone(page: Page, server: ServerProcess):
    """A proxy in front of the real server injects the protocol's error messages."""
    proxy = {}

    def handler(ws):
        upstream = ws.connect_to_server()

        def from_page(message):
            if '"mode":"dorian"' in str(message):  # refused, as the server refuses a bad field
                ws.send(json.dumps({
                    "type": "error", "code": "INVALID_MESSAGE", "message": "mode refused by test proxy",
                    "recoverable": True, "timestamp": 0.0,
                }))
                return
            upstream.send(message)

        ws.on_message(from_page)
        proxy["ws"] = ws

    page.route_web_socket("**/ws/stream*", handler)
    page.goto(server.url)
    wait_playing(page, min_frames=4410)
    proxy["ws"].send(json.dumps({
        "type": "error", "code": "RATE_LIMITED", "message": "too many messages", "recoverable": True,
        "timestamp": 0.0,
    }))
    msg = page.locator("#message")
    expect(msg).to_be_visible()
    expect(msg).to_contain_text("RATE_LIMITED")
    expect(msg).to_contain_text("too many messages")
    # A refused change: the controls return to the values that really play.
    page.select_option("#mode", "phrygian")
    wait_for(page, "s.acked && s.acked.mode === 'phrygian'", 5)
    page.select_option("#mode", "dorian")
    expect(msg).to_contain_text("INVALID_MESSAGE")
    expect(page.locator("#mode")).to_have_value("phrygian")
    assert snapshot(page)["params"]["mode"] == "phrygian"
    # Audio was never interrupted.
    assert snapshot(page)["stats"]["underruns"] == 0


def test_sleep_timer_counts_down_and_can_be_cancelled(page: Page, server: ServerProcess):
    page.goto(server.url)
    wait_playing(page, min_frames=4410)
    page.select_option("#sleep-timer", "15")
    remaining = page.locator("#sleep-remaining")
    expect(remaining).to_have_text(__import__("re").compile(r"^Fading out in 1[45]:\d\d$"))
    page.select_option("#sleep-timer", "0")
    expect(remaining).to_have_text("")
    assert snapshot(page)["stats"]["state"] == "playing"
