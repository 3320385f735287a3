"""Real headless Chromium (Debian's /usr/bin/chromium through Playwright) against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.support.chromium import CHROMIUM, chromium_args
from tests.support.server import ServerProcess, running_server

ARGS_AUTOPLAY = chromium_args()
ARGS_NO_AUTOPLAY = chromium_args(autoplay=False)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: run `make test` (its setup installs chromium)"
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS_AUTOPLAY)
    yield b
    b.close()


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """One shared server for the tests that do not stop or restart it."""
    with running_server() as srv:
        yield srv


@pytest.fixture()
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile per test (empty localStorage)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


class PageErrors(list):
    def check(self) -> None:
        assert not self, "page errors:\n" + "\n".join(self)


@pytest.fixture()
def page_errors() -> PageErrors:
    return PageErrors()


def watch_errors(page: Page, errors: list[str]) -> None:
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)


@pytest.fixture()
def page(context: BrowserContext, page_errors: PageErrors) -> Page:
    p = context.new_page()
    watch_errors(p, page_errors)
    return p


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
