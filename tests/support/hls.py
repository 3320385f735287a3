"""Real services for the HLS tests and benchmark: a redis-server and an nginx that serves an HLS
directory at ``/hls/``, each on a free loopback port, started here and stopped by pid.

    with running_redis() as url, running_nginx(hls_dir) as base:   # running_redis: tests.support.redis_server
        ...  # base == "http://127.0.0.1:<port>"; base + "/hls/focus/index.m3u8"

The nginx site is the minimal one production needs for HLS (docs/stations.md#hls): the directory
as static files, the playlist cached for a second, segments for an hour.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.redis_server import running_redis, stop_process, wait_until
from tests.support.server import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        location /hls/ {{
            alias {hls_dir}/;
            types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
            default_type application/octet-stream;
            location ~ \\.m3u8$ {{ add_header Cache-Control "max-age=1" always; }}
            location ~ \\.ts$ {{ add_header Cache-Control "max-age=3600, immutable" always; }}
        }}
    }}
}}
"""


@contextmanager
def running_nginx(hls_dir: Path) -> Iterator[str]:
    """A real nginx serving `hls_dir` at /hls/ on a free loopback port; yields its base URL."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="auralis-nginx-") as tmp:
        conf = Path(tmp) / "nginx.conf"
        # as root, nginx's workers would run as nobody, who cannot enter pytest's private tmp dirs
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf.write_text(NGINX_CONF.format(user=user, tmp=tmp, port=port, hls_dir=Path(hls_dir).resolve()))
        proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", tmp, "-e", f"{tmp}/error.log"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {proc.stderr.read().decode(errors='replace')}")
            try:
                httpx.get(f"{base}/hls/", timeout=1)
                return True
            except httpx.HTTPError:
                return False

        try:
            wait_until(up, 10, "nginx answering")
            yield base
        finally:
            stop_process(proc, signal.SIGQUIT)  # graceful stop of master and worker
            if proc.stderr is not None:
                proc.stderr.close()


def parse_playlist(text: str) -> tuple[int, list[tuple[str, float]]]:
    """(media sequence, [(segment name, EXTINF seconds)]) of a live playlist."""
    m = re.search(r"^#EXT-X-MEDIA-SEQUENCE:(\d+)$", text, re.M)
    assert text.startswith("#EXTM3U\n") and m, text
    segments = re.findall(r"^#EXTINF:([0-9.]+),\n(\S+)$", text, re.M)
    return int(m.group(1)), [(name, float(d)) for d, name in segments]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
