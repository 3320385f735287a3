"""/debug: one server-pushed feed drawn as tiles, charts and JSON; backs off (and says so) when refused."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.helpers import wait_playing
from tests.support.server import ServerProcess

COUNT_SERIES_PIXELS = """
(id) => {
  const c = document.getElementById(id);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const colours = [[0x7f, 0xb2, 0xff], [0xff, 0xb8, 0x6b], [0x7e, 0xe2, 0xa8], [0xf5, 0x8f, 0xd0]];
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] < 200) continue;
    for (const [r, g, b] of colours) {
      if (Math.abs(d[i] - r) < 12 && Math.abs(d[i + 1] - g) < 12 && Math.abs(d[i + 2] - b) < 12) { n++; break; }
    }
  }
  return n;
}
"""
CHARTS = ["chart-synthesis", "chart-network", "chart-e2e", "chart-buffer", "chart-connections", "chart-memory"]


def test_debug_draws_charts_from_live_data(context: BrowserContext, server: ServerProcess, page_errors, screenshots: Path):
    listener = context.new_page()
    listener.goto(server.url)  # a live listener, so every series has data
    wait_playing(listener, min_frames=44100)
    page = context.new_page()
    page.goto(f"{server.url}/debug")
    expect(page.locator("#poll-status")).to_have_attribute("data-state", "connected", timeout=5000)
    page.wait_for_function("Number(document.getElementById('chart-e2e').dataset.points) >= 6", timeout=10000)
    for cid in CHARTS:
        points = int(page.locator(f"#{cid}").get_attribute("data-points"))
        pixels = page.evaluate(COUNT_SERIES_PIXELS, cid)
        assert points >= 3 and pixels > 20, f"{cid}: {points} points, {pixels} series pixels"
    status = json.loads(page.locator("#status-json").inner_text())
    metrics = json.loads(page.locator("#metrics-json").inner_text())
    assert status["active_connections"] >= 1 and "uptime_sec" in status
    assert metrics["end_to_end_latency_ms"]["samples"] > 0
    expect(page.locator("#t-connections")).not_to_have_text("—")
    expect(page.locator("#t-underruns-rate")).to_contain_text("/ min")
    page.screenshot(path=str(screenshots / "debug.png"), full_page=True)
    page_errors.check()


def test_debug_backs_off_when_refused_and_says_so(page: Page, server: ServerProcess):
    hits = {"feed": 0}

    def refuse(route):
        hits["feed"] += 1
        route.fulfill(status=503, headers={"Retry-After": "7", "Content-Type": "application/json"},
                      body=json.dumps({"error": "Too many dashboard viewers", "retry_after": 7}))

    page.route("**/api/feed", refuse)
    page.goto(f"{server.url}/debug")
    text = page.locator("#poll-text")
    expect(text).to_contain_text("503")
    expect(text).to_contain_text("Retry-After: 7")
    expect(text).to_contain_text("Next try in 7 s")
    page.wait_for_timeout(2500)  # well inside the Retry-After interval
    assert hits["feed"] == 1, "no request during the Retry-After interval"


def test_viewers_share_one_feed(context: BrowserContext, server: ServerProcess):
    """Three dashboards: each sees the same once-a-second samples, and the server says 3 viewers."""
    pages = [context.new_page() for _ in range(3)]
    for p in pages:
        p.goto(f"{server.url}/debug")
    for p in pages:
        expect(p.locator("#poll-text")).to_contain_text("3 viewers", timeout=5000)
    assert not [p for p in pages if p.locator("#poll-status").get_attribute("data-state") != "connected"]
