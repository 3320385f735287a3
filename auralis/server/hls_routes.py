"""``GET /hls/STATION/FILE``: the HLS directory served by `auralis serve` itself, in development.

In production nginx (or a CDN in front of it) serves ``AURALIS_HLS_DIR`` at ``/hls/`` and the
Auralis processes never see those requests (docs/stations.md#hls). In development there is no
nginx, so the page's HLS player gets the same files, with the same cache headers, from here:

* ``index.m3u8``: ``application/vnd.apple.mpegurl``, ``Cache-Control: max-age=1`` (a playlist
  changes every segment; a cache may hold it for a second);
* ``seg-N.ts``: ``video/mp2t``, ``Cache-Control: max-age=3600, immutable`` (a segment's number
  is its station time: it is written once and never changes).

Only a published station's directory, and only those two kinds of names, are served: anything
else is a 404.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse

from auralis.streaming.hls import PLAYLIST, PLAYLIST_TYPE, SEGMENT_PATTERN, SEGMENT_TYPE

PLAYLIST_CACHE = "max-age=1"
SEGMENT_CACHE = "max-age=3600, immutable"


def hls_file(directory: Path, stations: list[str], station: str, filename: str) -> tuple[Path, str, str] | None:
    """(path, media type, cache header) of a servable HLS file, else None."""
    if station not in stations:
        return None
    if filename == PLAYLIST:
        kind, cache = PLAYLIST_TYPE, PLAYLIST_CACHE
    elif SEGMENT_PATTERN.fullmatch(filename):
        kind, cache = SEGMENT_TYPE, SEGMENT_CACHE
    else:
        return None
    path = directory / station / filename
    return (path, kind, cache) if path.is_file() else None


def install_hls_routes(app: FastAPI, directory: Path, stations: list[str]) -> None:
    @app.get("/hls/{station}/{filename}", tags=["stations"], include_in_schema=False)
    @app.head("/hls/{station}/{filename}", include_in_schema=False)
    async def hls(station: str, filename: str) -> FileResponse:
        """A station's HLS playlist or segment (development; nginx serves these in production)."""
        found = hls_file(directory, stations, station, filename)
        if found is None:
            raise HTTPException(status_code=404, detail="Not Found")
        path, kind, cache = found
        return FileResponse(path, media_type=kind, headers={"Cache-Control": cache})
