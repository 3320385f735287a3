"""The development HLS route (auralis.server.hls_routes) and the vendored hls.js route: content
types, cache headers, and nothing outside a published station's playlist and segments."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi.testclient import TestClient

from auralis.server.app import WEB_DIR, create_app
from auralis.server.settings import Settings


def test_hls_files_with_their_types_and_cache_headers(tmp_path: Path) -> None:
    (tmp_path / "focus").mkdir()
    (tmp_path / "focus" / "index.m3u8").write_text("#EXTM3U\n")
    (tmp_path / "focus" / "seg-12.ts").write_bytes(b"\x47" * 188)
    (tmp_path / "focus" / "notes.txt").write_text("x")
    (tmp_path / "secret.m3u8").write_text("secret")
    (tmp_path / "sleep").mkdir()
    (tmp_path / "sleep" / "index.m3u8").write_text("#EXTM3U\n")
    app = create_app(Settings(hls_dir=tmp_path, hls_stations=["focus"]))
    client = TestClient(app)  # no lifespan: the publisher does not run, the route serves the files
    r = client.get("/hls/focus/index.m3u8")
    assert r.status_code == 200 and r.text == "#EXTM3U\n"
    assert r.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert r.headers["cache-control"] == "max-age=1"
    r = client.get("/hls/focus/seg-12.ts")
    assert r.status_code == 200 and r.content == b"\x47" * 188
    assert r.headers["content-type"] == "video/mp2t"
    assert r.headers["cache-control"] == "max-age=3600, immutable"
    assert client.head("/hls/focus/index.m3u8").status_code == 200
    for path in ("/hls/focus/notes.txt", "/hls/sleep/index.m3u8", "/hls/focus/seg-13.ts",
                 "/hls/focus/../secret.m3u8", "/hls/focus/%2e%2e%2fsecret.m3u8", "/hls/focus/seg-1x.ts",
                 "/hls/nope/index.m3u8"):
        assert client.get(path).status_code == 404, path


def test_no_hls_route_without_a_directory_or_in_production(tmp_path: Path) -> None:
    assert TestClient(create_app(Settings())).get("/hls/focus/index.m3u8").status_code == 404
    (tmp_path / "focus").mkdir()
    (tmp_path / "focus" / "index.m3u8").write_text("#EXTM3U\n")
    prod = create_app(Settings(env="production", allowed_hosts=["testserver"], jwt_secret="x" * 32,
                               hls_dir=tmp_path, https_redirect=False))
    assert TestClient(prod).get("/hls/focus/index.m3u8").status_code == 404  # nginx serves it


def test_the_vendored_hls_js_is_served_pinned(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings()))
    r = client.get("/client/vendor/hls.mjs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/javascript")
    readme = (WEB_DIR / "vendor" / "README.md").read_text()
    assert hashlib.sha256(r.content).hexdigest() in readme  # the checksum the README pins
    assert "| 1.7.4 |" in readme
    for path in ("/client/vendor/README.md", "/client/vendor/hls.js.LICENSE.txt", "/client/vendor/../app.py",
                 "/client/vendor/nope.mjs"):
        assert client.get(path).status_code == 404, path
