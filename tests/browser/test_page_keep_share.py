"""Keep and share in Chromium: a Share link starts the same music (seed and every parameter),
a link's bad values are refused, favourites stay in localStorage, and a download works."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import mido
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import watch_errors
from tests.browser.helpers import snapshot, wait_for, wait_playing
from tests.support.server import ServerProcess

WANT = {"key": 65, "mode": "lydian", "bpm": 72, "intensity": 0.35, "palette": "glass"}


def test_the_share_link_reproduces_seed_and_parameters(page: Page, context: BrowserContext, server: ServerProcess, page_errors):
    page.goto(f"{server.url}/?key=65&mode=lydian&bpm=72&intensity=0.35&palette=glass&seed=4242")
    wait_playing(page, min_frames=4410)
    wait_for(page, "s.acked && s.seed === '4242'", 10)
    s = snapshot(page)
    assert s["acked"] == WANT and s["params"] == WANT  # the server plays what the link asked for
    expect(page.locator("#mode")).to_have_value("lydian")
    expect(page.locator("#palette")).to_have_value("glass")

    page.click("#share")
    expect(page.locator("#share-url")).to_be_visible()
    link = page.locator("#share-url").input_value()
    expect(page.locator("#share-status")).to_contain_text("it starts this music")
    q = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    assert q == {"key": "65", "mode": "lydian", "bpm": "72", "intensity": "0.35", "palette": "glass", "seed": "4242"}

    # the link, opened in a fresh profile (nothing stored), starts the same music
    other_ctx = context.browser.new_context()
    try:
        other = other_ctx.new_page()
        watch_errors(other, page_errors)
        other.goto(link)
        wait_playing(other, min_frames=4410)
        wait_for(other, "s.acked && s.seed === '4242'", 10)
        assert snapshot(other)["acked"] == WANT
        assert snapshot(other)["clientId"] != s["clientId"]
    finally:
        other_ctx.close()
    page_errors.check()


def test_a_links_bad_values_are_refused_and_the_rest_kept(page: Page, server: ServerProcess, page_errors):
    page.goto(f"{server.url}/?key=99&mode=lydian&bpm=fast&seed=-4")
    wait_playing(page, min_frames=4410)
    wait_for(page, "s.acked && s.acked.mode === 'lydian'", 10)
    expect(page.locator("#message")).to_contain_text("key, bpm, seed")
    s = snapshot(page)
    assert s["acked"]["key"] == 60 and s["acked"]["bpm"] == 60
    assert s["seed"] != "-4" and s["seed"] is not None  # the server chose one
    page_errors.check()


def test_favourites_are_kept_with_a_name_and_open_their_music(page: Page, server: ServerProcess, page_errors):
    page.goto(f"{server.url}/?key=62&mode=dorian&bpm=55&intensity=0.6&palette=garden&seed=99")
    wait_playing(page, min_frames=4410)
    wait_for(page, "s.acked && s.seed === '99'", 10)
    page.fill("#fav-name", "Rain")
    page.click("#fav-save")
    expect(page.locator("#fav-list li")).to_have_count(1)
    page.goto(server.url)  # no query: the favourite is still there
    link = page.locator("#fav-list a", has_text="Rain")
    expect(link).to_be_visible()
    link.click()
    wait_playing(page, min_frames=4410)
    wait_for(page, "s.acked && s.seed === '99'", 10)
    assert snapshot(page)["acked"] == {"key": 62, "mode": "dorian", "bpm": 55, "intensity": 0.6, "palette": "garden"}
    page.click("#fav-list button")
    expect(page.locator("#fav-list li")).to_have_count(0)
    page_errors.check()


def test_download_the_last_minutes_as_midi_and_ogg(page: Page, server: ServerProcess, page_errors, tmp_path: Path):
    page.goto(f"{server.url}/?seed=7")
    wait_playing(page, min_frames=44100 * 3)
    with page.expect_download(timeout=60000) as dl:
        page.click("#dl-midi")
    d = dl.value
    assert d.suggested_filename.startswith("auralis-seed7-") and d.suggested_filename.endswith(".mid")
    path = tmp_path / d.suggested_filename
    d.save_as(path)
    assert any(m.type == "note_on" for m in mido.MidiFile(path))
    expect(page.locator("#dl-status")).to_contain_text("Ready")
    with page.expect_download(timeout=90000) as dl:
        page.click("#dl-ogg")
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    assert path.suffix == ".ogg" and path.read_bytes()[:4] == b"OggS" and b"OpusHead" in path.read_bytes()[:100]
    assert page.evaluate("document.getElementById('dl-progress').value") == 1
    page_errors.check()
