"""The page's start-up path (time to first audio): its whole module graph is requested at once
(`<link rel="modulepreload">`), and the Opus decoder is configured while the connection opens,
before the first frame arrives."""

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


def test_the_page_requests_its_whole_module_graph_at_once(page: Page, server: ServerProcess, page_errors):
    page.goto(server.url)
    wait_playing(page, min_frames=4410)
    html = page.content()
    preloaded = re.findall(r'<link rel="modulepreload" href="/client/([a-z0-9_]+\.js)">', html)
    assert len(preloaded) >= 15, preloaded  # tests/js/preload.test.mjs checks it is the whole graph
    entries = page.evaluate(RESOURCES)
    first: dict[str, dict] = {}
    for e in sorted(entries, key=lambda e: e["start"]):
        first.setdefault(e["name"], e)
    main = first["audio_client_worklet.js"]
    for name in preloaded:
        assert name in first, f"{name} was never requested"
        e = first[name]
        # requested by the <link> in the head, before the page script arrived and was parsed, not
        # import by import after it
        assert e["initiator"] == "link", e
        assert e["start"] < main["end"], (e, main)
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
