"""The page's start-up path (time to first audio): its module graph is preloaded
(`<link rel="modulepreload">`), startup.js starts the audio graph before the page script runs,
and the Opus decoder is configured while the connection opens, before the first frame arrives."""

from __future__ import annotations

import re

from playwright.sync_api import Page

from tests.browser.helpers import snapshot, wait_playing
from tests.support.server import ServerProcess

# Records when the page configures an AudioDecoder (performance.now()), before its scripts run.
RECORD_CONFIGURE = """
(() => {
  const Native = window.AudioDecoder;
  window.__configured = [];
  if (!Native) return;
  window.AudioDecoder = class extends Native {
    configure(cfg) {
      window.__configured.push(performance.now());
      return super.configure(cfg);
    }
  };
})();
"""

RESOURCES = """
performance.getEntriesByType('resource')
  .filter((r) => r.name.includes('/client/') && r.name.endsWith('.js'))
  .map((r) => ({ name: r.name.split('/').pop(), start: r.startTime, end: r.responseEnd, initiator: r.initiatorType }))
"""
MARKS = "Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name, m.startTime]))"


def test_the_modules_are_preloaded_once_and_the_audio_graph_starts_before_the_page_script(
    page: Page, server: ServerProcess, page_errors
):
    page.goto(server.url)
    wait_playing(page, min_frames=4410)
    html = page.content()
    preloaded = re.findall(r'<link rel="modulepreload" href="/client/([a-z0-9_]+\.js)">', html)
    assert len(preloaded) >= 15, preloaded  # tests/js/preload.test.mjs checks it is the whole graph
    fetched = [e["name"] for e in page.evaluate(RESOURCES)]
    for name in preloaded:
        # the preload's response serves the import: one fetch each, none repeated
        assert fetched.count(name) == 1, (name, fetched)
    marks = page.evaluate(MARKS)
    # startup.js ran first: the AudioContext and the worklet's fetch began before the page script ran
    assert marks["auralis:audio-context"] <= marks["auralis:worklet-fetch"] < marks["auralis:main"], marks
    assert marks["auralis:main"] < marks["auralis:ws-create"] < marks["auralis:first-frame"], marks
    page_errors.check()


def test_the_opus_decoder_is_configured_while_the_connection_opens(page: Page, server: ServerProcess, page_errors):
    page.add_init_script(RECORD_CONFIGURE)
    page.goto(server.url)
    s = wait_playing(page, min_frames=4410)
    assert s["format"] == "opus"
    configured = page.evaluate("window.__configured")
    marks = page.evaluate(MARKS)
    assert configured, "no AudioDecoder was configured"
    assert marks["auralis:ws-create"] <= configured[0] < marks["auralis:first-frame"], (configured, marks)
    assert len(configured) == 1, f"one decoder for the connection, got {len(configured)}"
    assert snapshot(page)["decoder"]["decoderErrors"] == 0
    page_errors.check()
