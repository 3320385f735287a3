"""Keyboard operation, labels, a visible focus ring and WCAG AA contrast."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.helpers import wait_playing
from tests.support.server import ServerProcess

FOCUSED = """() => {
  const el = document.activeElement;
  const cs = getComputedStyle(el);
  return { id: el.id || el.dataset.preset || el.tagName, outline: cs.outlineStyle, width: parseFloat(cs.outlineWidth) };
}"""

COLOURS = """(sel) => {
  const el = document.querySelector(sel);
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  let bg = el; let b = parse(getComputedStyle(bg).backgroundColor);
  while ((b.length === 4 && b[3] === 0) && bg.parentElement) { bg = bg.parentElement; b = parse(getComputedStyle(bg).backgroundColor); }
  return { fg: parse(getComputedStyle(el).color), bg: b };
}"""


def _luminance(rgb):
    def ch(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (ch(v) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg, bg):
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_every_control_has_a_label_and_works_from_the_keyboard(page: Page, server: ServerProcess):
    page.goto(server.url)
    wait_playing(page, min_frames=4410)
    for label in ("Key", "Mode", "Intensity", "Tempo", "Volume", "Fade out and stop after"):
        expect(page.get_by_label(label, exact=False).first).to_be_visible()
    reached = []
    for _ in range(20):
        page.keyboard.press("Tab")
        f = page.evaluate(FOCUSED)
        reached.append(f["id"])
        if f["id"] not in ("BODY",):
            assert f["outline"] != "none" and f["width"] >= 2, f"no visible focus ring on {f}"
    for want in ("play-toggle", "focus", "meditation", "sleep", "bright", "key", "mode", "intensity", "bpm",
                 "volume", "sleep-timer"):
        assert want in reached, f"{want} not reachable by Tab: {reached}"
    # Operable: a preset by Enter, the mode by keyboard.
    page.focus(".preset[data-preset='bright']")
    page.keyboard.press("Enter")
    expect(page.locator(".preset[data-preset='bright']")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#status")).to_have_attribute("role", "status")


def test_text_contrast_meets_wcag_aa(page: Page, server: ServerProcess):
    page.goto(server.url)
    page.locator("details.details summary").click()
    for sel in ("#status-text", ".card-title", "#np-key", ".np-grid dt", "label[for=key]", ".hint",
                "#intensity-out", ".preset", "#key", ".footer a", ".details summary", ".stats-grid dt"):
        c = page.evaluate(COLOURS, sel)
        ratio = contrast(c["fg"], c["bg"])
        assert ratio >= 4.5, f"{sel}: contrast {ratio:.2f} < 4.5 ({c})"
