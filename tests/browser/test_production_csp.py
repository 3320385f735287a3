"""Production's real headers in real headless Chromium: the listening page and the dashboard work
under the server's Content-Security-Policy with no violation, the token travelling as the page's
``?token=`` (a browser cannot set a bearer header for a page or a WebSocket). It takes the
browser suite's session Chromium: a second `sync_playwright` in the same process refuses to start
while that one is open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from auralis.server.security import content_security_policy
from tests.support.production import auth_headers, make_token, production_env
from tests.support.server import ServerProcess, running_server

pytestmark = pytest.mark.browser

WATCH_CSP = """
  window.__csp = [];
  document.addEventListener('securitypolicyviolation',
    (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    # This module's own server (the suite's shared one is not in production mode). The dashboard polls /api/status and /api/metrics every second. No TLS proxy stands in front
    # of this server and Chromium sends no X-Forwarded-Proto for worklet module fetches, so the
    # HTTPS redirect (tested in test_production_security.py) is off here; all else is production.
    env = production_env(AURALIS_RATE_LIMIT_METRICS="10000/minute", AURALIS_HTTPS_REDIRECT="false")
    with running_server(env=env, headers=auth_headers()) as srv:
        yield srv


def test_pages_run_under_the_production_csp_without_violations(server: ServerProcess, browser: Browser):
    token = make_token()
    console: list[str] = []
    errors: list[str] = []
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(WATCH_CSP)
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: errors.append(str(e)))

        response = page.goto(f"{server.url}/?token={token}")
        assert response is not None and response.status == 200
        assert response.headers["content-security-policy"] == content_security_policy()
        page.wait_for_function(
            "() => { const s = window.auralis && window.auralis.snapshot();"
            " return !!s && s.stats && s.stats.state === 'playing' && s.stats.nonSilentFrames >= 22050; }",
            timeout=20_000,
            polling=100,
        )
        assert page.evaluate("window.__csp") == []

        page.goto(f"{server.url}/debug?token={make_token(role='operator')}")  # the feed needs the role
        page.wait_for_selector("#poll-status[data-state='connected']", timeout=10_000)
        assert page.evaluate("window.__csp") == []
    finally:
        context.close()
    violations = [m for m in console if "Content Security Policy" in m or "Refused to" in m]
    assert violations == []
    assert errors == []
