"""The static client served from memory: strong ETags, 304 on If-None-Match, Cache-Control per
http-api.md, and a file changed on disk served at once."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from auralis.server.app import WEB_DIR, create_app
from auralis.server.client_files import etag_matches
from auralis.server.settings import Settings


@pytest.fixture()
def web(tmp_path: Path) -> Path:
    web = tmp_path / "web"
    (web / "vendor").mkdir(parents=True)
    (web / "index.html").write_text("<!DOCTYPE html><html><body>hi</body></html>")
    (web / "debug.html").write_text("<!DOCTYPE html><html><body>debug</body></html>")
    (web / "app.js").write_text("export const x = 1;\n")
    (web / "vendor" / "lib.mjs").write_text("export default 2;\n")
    return web


def strong_etag(data: bytes) -> str:
    return f'"{hashlib.sha256(data).hexdigest()[:32]}"'


@pytest.mark.parametrize("path,name", [("/", "index.html"), ("/debug", "debug.html"), ("/client/app.js", "app.js"),
                                       ("/client/vendor/lib.mjs", "vendor/lib.mjs")])
def test_etag_is_the_content_hash_and_a_match_gets_304(web: Path, path: str, name: str) -> None:
    client = TestClient(create_app(Settings(), web_dir=web))
    body = (web / name).read_bytes()
    first = client.get(path)
    assert first.status_code == 200 and first.content == body
    assert first.headers["etag"] == strong_etag(body)
    assert not first.headers["etag"].startswith("W/")
    assert first.headers["cache-control"] == "no-cache"
    again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == "no-cache"
    # a list holding it, or a weak form of it, matches too (RFC 9110's weak comparison)
    assert client.get(path, headers={"If-None-Match": f'"other", W/{first.headers["etag"]}'}).status_code == 304
    # another tag: the file again
    other = client.get(path, headers={"If-None-Match": '"0123"'})
    assert other.status_code == 200 and other.content == body


def test_a_file_changed_on_disk_is_served_at_once_with_a_new_etag(web: Path) -> None:
    client = TestClient(create_app(Settings(), web_dir=web))
    old = client.get("/client/app.js")
    path = web / "app.js"
    path.write_text("export const x = 22;\n")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a clock with coarse mtimes
    new = client.get("/client/app.js", headers={"If-None-Match": old.headers["etag"]})
    assert new.status_code == 200 and new.content == b"export const x = 22;\n"
    assert new.headers["etag"] == strong_etag(new.content) != old.headers["etag"]
    # a file added after the start is served, a removed one is 404
    (web / "late.js").write_text("late")
    assert client.get("/client/late.js").content == b"late"
    (web / "late.js").unlink()
    assert client.get("/client/late.js").status_code == 404


def test_head_gets_the_headers_and_length_without_body(web: Path) -> None:
    client = TestClient(create_app(Settings(), web_dir=web))
    r = client.head("/client/app.js")
    body = (web / "app.js").read_bytes()
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(len(body))
    assert r.headers["etag"] == strong_etag(body)
    assert r.headers["content-type"].startswith("application/javascript")


def test_the_real_client_files_all_have_etags() -> None:
    client = TestClient(create_app(Settings()))
    names = [p.name for p in WEB_DIR.iterdir() if p.suffix in (".js", ".css", ".html")]
    assert len(names) > 10
    for name in names:
        r = client.get(f"/client/{name}")
        assert r.status_code == 200, name
        assert r.headers["etag"] == strong_etag((WEB_DIR / name).read_bytes()), name


@pytest.mark.parametrize(
    "header,match",
    [(None, False), ("", False), ("*", True), ('"abc"', True), ('W/"abc"', True), ('"x", "abc"', True),
     ('"abcd"', False), ("abc", False)],
)
def test_if_none_match_parsing(header: str | None, match: bool) -> None:
    assert etag_matches(header, '"abc"') is match
