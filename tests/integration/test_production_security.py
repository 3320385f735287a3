"""Production mode on a real server (`auralis serve`, AURALIS_ENV=production, loopback).

Each refusal the contract asks for (no token, expired token, bad signature, wrong Origin, wrong
Host), the headers, the public pages, the HTTPS redirect behind a proxy, and the refusal to start
without a key.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
import websockets

from auralis.server.security import content_security_policy
from tests.support.production import HTTPS, WRONG_SECRET, auth_headers, make_token, production_env
from tests.support.server import REPO_ROOT, ServerProcess, running_server


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with running_server(env=production_env(), headers=auth_headers()) as srv:
        yield srv


def get(srv: ServerProcess, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(f"{srv.url}{path}", headers=headers, timeout=10, follow_redirects=False)


BAD_TOKENS = {
    "no token": None,
    "expired token": make_token(exp_in=-60),
    "bad signature": make_token(WRONG_SECRET),
    "not a JWT": "abc.def",
}


@pytest.mark.parametrize("path", ["/api/status", "/api/metrics", "/metrics"])
@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_api_refuses_missing_expired_and_forged_tokens(server, path, case):
    token = BAD_TOKENS[case]
    headers = dict(HTTPS) if token is None else auth_headers(token)
    r = get(server, path, headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "Unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")
    expected = {"no token": "missing", "expired token": "expired", "bad signature": "signature", "not a JWT": "malformed"}
    assert expected[case] in r.json()["detail"]


def test_api_answers_with_a_valid_token(server):
    assert get(server, "/api/status", auth_headers()).json()["soundfont_loaded"] is True
    assert get(server, "/metrics", auth_headers()).text.startswith("# HELP")


def test_pages_stay_public_with_security_headers(server):
    for path in ("/", "/debug", "/client/audio_client_worklet.js", "/client/styles.css"):
        r = get(server, path, HTTPS)
        assert r.status_code == 200, path
        assert r.headers["content-security-policy"] == content_security_policy()
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert get(server, "/", HTTPS).headers["cache-control"] == "max-age=3600"  # http-api.md, production
    assert get(server, "/client/styles.css", HTTPS).headers["cache-control"] == "no-cache"
    # the interactive docs need a CDN and inline script: not served in production
    assert get(server, "/docs", HTTPS).status_code == 404
    assert get(server, "/openapi.json", HTTPS).status_code == 200


def test_wrong_host_refused(server):
    r = get(server, "/", {**auth_headers(), "Host": "evil.example"})
    assert r.status_code == 400
    r = get(server, "/api/status", {**auth_headers(), "Host": "evil.example"})
    assert r.status_code == 400


def test_plain_http_redirected_to_https_unless_the_proxy_says_https(server):
    r = get(server, "/api/status", {"Authorization": auth_headers()["Authorization"]})
    assert r.status_code == 307
    assert r.headers["location"] == f"https://127.0.0.1:{server.port}/api/status"
    # X-Forwarded-Proto is trusted only from the configured proxies (127.0.0.1 here)
    assert get(server, "/api/status", auth_headers()).status_code == 200


def test_cors_only_for_allowed_origins(server):
    pre = {**HTTPS, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    ok = httpx.options(f"{server.url}/api/status", headers={**pre, "Origin": "https://app.example.com"})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://app.example.com"
    evil = httpx.options(f"{server.url}/api/status", headers={**pre, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in evil.headers
    r = get(server, "/api/status", {**auth_headers(), "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


async def _first_messages(url: str, n: int, **kwargs) -> tuple[list[dict], int | None, str | None]:
    async with websockets.connect(url, compression=None, open_timeout=20, **kwargs) as ws:
        messages = []
        try:
            while len(messages) < n:
                frame = await asyncio.wait_for(ws.recv(), 20)
                messages.append(json.loads(frame))
        except websockets.ConnectionClosed as exc:
            return messages, exc.rcvd.code if exc.rcvd else None, ws.subprotocol
        return messages, None, ws.subprotocol


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_websocket_refuses_missing_expired_and_forged_tokens(server, case):
    token = BAD_TOKENS[case]
    query = "" if token is None else f"?token={token}"
    messages, code, _ = asyncio.run(
        _first_messages(f"{server.ws_url}/ws/stream{query}", 3, additional_headers=HTTPS)
    )
    assert code == 1008
    assert [m["type"] for m in messages] == ["error"]
    assert messages[0]["code"] == "UNAUTHORIZED" and messages[0]["recoverable"] is False


def test_websocket_streams_with_a_token_in_the_query_or_the_subprotocol(server):
    messages, code, _ = asyncio.run(
        _first_messages(f"{server.ws_url}/ws/stream?token={make_token()}", 4, additional_headers=HTTPS)
    )
    assert code is None and messages[0]["state"] == "connected"
    assert [m["seq"] for m in messages[1:]] == [0, 1, 2]
    messages, code, subprotocol = asyncio.run(
        _first_messages(
            f"{server.ws_url}/ws/stream",
            2,
            additional_headers=HTTPS,
            subprotocols=["bearer", make_token()],
        )
    )
    assert subprotocol == "bearer" and code is None
    assert messages[0]["state"] == "connected" and messages[1]["seq"] == 0


def test_websocket_wrong_origin_refused_at_the_handshake(server):
    url = f"{server.ws_url}/ws/stream?token={make_token()}"
    with pytest.raises(websockets.InvalidStatus) as info:
        asyncio.run(_first_messages(url, 1, additional_headers=HTTPS, origin="https://evil.example"))
    assert info.value.response.status_code == 403
    for origin in ("https://app.example.com", f"https://127.0.0.1:{server.port}"):  # allowed, same origin
        messages, code, _ = asyncio.run(_first_messages(url, 1, additional_headers=HTTPS, origin=origin))
        assert code is None and messages[0]["state"] == "connected"
    # the same host and port over plain http is another origin: the connection is wss (the proxy
    # said https), so an http:// page is not this site's page
    with pytest.raises(websockets.InvalidStatus) as info:
        asyncio.run(_first_messages(url, 1, additional_headers=HTTPS, origin=f"http://127.0.0.1:{server.port}"))
    assert info.value.response.status_code == 403


def test_websocket_without_the_proxy_header_is_redirected_to_wss(server):
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    r = get(server, f"/ws/stream?token={make_token()}", upgrade)
    assert r.status_code == 307
    assert r.headers["location"].startswith(f"wss://127.0.0.1:{server.port}/ws/stream?token=")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "AURALIS_JWT_SECRET"),
        ({"AURALIS_JWT_SECRET": "short"}, "at least 32 bytes"),
        ({"AURALIS_JWT_SECRET": "x" * 40, "AURALIS_ALLOWED_HOSTS": ""}, "AURALIS_ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_to_start_without_a_usable_key(env, message):
    full = {k: v for k, v in os.environ.items() if not k.startswith("AURALIS_")}
    full.update({"AURALIS_ENV": "production", "AURALIS_ALLOWED_HOSTS": "127.0.0.1", **env})
    proc = subprocess.run(
        [sys.executable, "-m", "auralis.cli", "serve", "--port", "1"],
        cwd=REPO_ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "auralis serve: error:" in proc.stderr and message in proc.stderr
    assert "Traceback" not in proc.stderr
