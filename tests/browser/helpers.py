"""Helpers for the browser tests: read the page's own state (window.auralis.snapshot())."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

SNAPSHOT = "window.auralis ? window.auralis.snapshot() : null"


def snapshot(page: Page) -> dict[str, Any]:
    return page.evaluate(SNAPSHOT)


def wait_for(page: Page, js_predicate: str, timeout_s: float = 10.0, arg: Any = None) -> None:
    """Wait until `js_predicate` (a function of the snapshot `s`, and `arg`) is true."""
    page.wait_for_function(
        f"([arg]) => {{ const s = window.auralis && window.auralis.snapshot(); return !!s && ({js_predicate}); }}",
        arg=[arg],
        timeout=timeout_s * 1000,
        polling=50,
    )


def wait_playing(page: Page, min_frames: int = 22050, timeout_s: float = 15.0) -> dict[str, Any]:
    """Wait until the worklet has output `min_frames` non-silent frames; returns the snapshot."""
    wait_for(page, f"s.stats && s.stats.state === 'playing' && s.stats.nonSilentFrames >= {min_frames}", timeout_s)
    return snapshot(page)


def sent_of_type(page: Page, kind: str) -> list[dict[str, Any]]:
    return [m for m in snapshot(page)["sent"] if m["type"] == kind]

