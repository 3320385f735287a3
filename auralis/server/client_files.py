"""The static client (`auralis/web`), served from memory with strong ETags.

Every file the client directory may serve (a plain name, a known media type, directly inside
the directory: `static_file`) is read once and kept in memory with a strong ETag, the SHA-256 of
its bytes. A request then costs no file I/O and no thread hop: a `stat` tells whether the file
changed on disk (development edits are served at once, re-read and re-hashed), and a request
whose `If-None-Match` names the current ETag gets `304 Not Modified` with no body.

`Cache-Control` is the contract's (http-api.md): `no-cache` for `/client/*` and for `/` in
development, `max-age=3600` for `/` in production. `no-cache` lets a browser keep the files but
makes it ask each time, so a return visit costs one 304 per file instead of the files: the files
have no version in their names, so a longer lifetime would keep an old page's modules after an
upgrade.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

#: Media types of the files the client directory may serve; any other file is a 404.
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".mjs": "application/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
#: A plain file name: no separators, no leading dot, so no way out of the directory.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")


def static_file(web_dir: Path, name: str) -> Path | None:
    """The file `name` directly inside `web_dir` if it may be served, else None."""
    if not _SAFE_NAME.fullmatch(name) or Path(name).suffix not in MEDIA_TYPES:
        return None
    path = web_dir / name
    try:
        if not path.is_file() or path.resolve().parent != web_dir.resolve():
            return None
    except OSError:
        return None
    return path


@dataclass(frozen=True)
class _Entry:
    stamp: tuple[int, int, int]  # (st_mtime_ns, st_size, st_ino): the version on disk
    body: bytes
    etag: str  # strong: '"<sha256 hex, 32 digits>"'
    media_type: str


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*`, or any listed tag equal to `etag` (weak comparison, as the
    RFC asks for this header: a `W/` prefix is ignored)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


class ClientFiles:
    """One directory's servable files, in memory (see the module docstring). Thread-safe."""

    def __init__(self, web_dir: Path) -> None:
        self.web_dir = web_dir
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        try:
            names = sorted(p.name for p in web_dir.iterdir())
        except OSError:
            names = []
        for name in names:  # read at start, off the event loop (the app is built before serving)
            self._entry(name)

    def _entry(self, name: str) -> _Entry | None:
        path = static_file(self.web_dir, name)
        if path is None:
            with self._lock:
                self._entries.pop(name, None)
            return None
        try:
            stamp = _stamp(path.stat())
        except OSError:
            return None
        with self._lock:
            entry = self._entries.get(name)
        if entry is not None and entry.stamp == stamp:
            return entry
        try:  # new or changed on disk: read it again (once per change)
            body = path.read_bytes()
            stamp = _stamp(path.stat())
        except OSError:
            return None
        entry = _Entry(stamp, body, f'"{hashlib.sha256(body).hexdigest()[:32]}"', MEDIA_TYPES[path.suffix])
        with self._lock:
            self._entries[name] = entry
        return entry

    def response(self, request: Request, name: str, cache_control: str = "no-cache") -> Response | None:
        """The file's response for this GET or HEAD (200, or 304 when the client holds it);
        None when there is no such servable file."""
        entry = self._entry(name)
        if entry is None:
            return None
        headers = {"ETag": entry.etag, "Cache-Control": cache_control}
        if etag_matches(request.headers.get("if-none-match"), entry.etag):
            return Response(status_code=304, headers=headers)
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(entry.body))
            return Response(status_code=200, headers=headers, media_type=entry.media_type)
        return Response(entry.body, headers=headers, media_type=entry.media_type)
