"""Render the nginx site for Auralis from deploy/nginx-site.conf.template (standard library only).

    python3 deploy/nginx_site.py --server-name auralis.example.com \\
        --upstream 127.0.0.1:8001 --upstream 127.0.0.1:8002 \\
        --hls-dir /var/lib/auralis/hls > /etc/nginx/sites-available/auralis

With no arguments it prints the site of docs/deploy.md (deploy/auralis-nginx.conf is that output;
a test keeps the two equal). `make cluster` (scripts/cluster.py) renders the same template for its
loopback cluster.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx-site.conf.template"
DEFAULT_UPSTREAMS = ("127.0.0.1:8001", "127.0.0.1:8002")
DEFAULT_LISTEN = ("80", "[::]:80")
DEFAULT_SERVER_NAME = "auralis.example.com"
DEFAULT_HLS_DIR = "/var/lib/auralis/hls"
#: Passive health check of each instance (see the template).
MAX_FAILS = 2
FAIL_TIMEOUT_S = 10

_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+):\d{1,5}$")
_LISTEN = re.compile(r"^(\[[0-9A-Fa-f:]+\]:|[0-9.]+:)?\d{1,5}( [a-z_ ]+)?$")
_NAME = re.compile(r"^[A-Za-z0-9.*_ -]+$")


def render_site(
    upstreams: tuple[str, ...] | list[str] = DEFAULT_UPSTREAMS,
    *,
    listen: tuple[str, ...] | list[str] = DEFAULT_LISTEN,
    server_name: str = DEFAULT_SERVER_NAME,
    hls_dir: str = DEFAULT_HLS_DIR,
    max_fails: int = MAX_FAILS,
    fail_timeout_s: int = FAIL_TIMEOUT_S,
) -> str:
    """The site's text; ValueError naming the argument that cannot go into an nginx file."""
    if not upstreams:
        raise ValueError("upstream: at least one instance address (host:port) is needed")
    for address in upstreams:
        if not _ADDRESS.fullmatch(address):
            raise ValueError(f"upstream: {address!r} is not host:port")
    for item in listen:
        if not _LISTEN.fullmatch(item):
            raise ValueError(f"listen: {item!r} is not [address:]port")
    if not _NAME.fullmatch(server_name):
        raise ValueError(f"server-name: {server_name!r} is not a list of host names")
    if not hls_dir.startswith("/") or any(c in hls_dir for c in ' ;{}"\'\\$#\n'):
        raise ValueError(f"hls-dir: {hls_dir!r} must be an absolute path without spaces or ; {{ }} quotes $ #")
    servers = "\n".join(
        f"    server {a} max_fails={max_fails} fail_timeout={fail_timeout_s}s;" for a in upstreams
    )
    stream_servers = "\n".join(f"    server {a} max_fails=0;" for a in upstreams)
    text = TEMPLATE.read_text()
    for name, value in (
        ("UPSTREAM_SERVERS", servers),
        ("STREAM_UPSTREAM_SERVERS", stream_servers),
        ("LISTEN", "\n".join(f"    listen {item};" for item in listen)),
        ("SERVER_NAME", server_name),
        ("HLS_DIR", hls_dir.rstrip("/")),
    ):
        text = text.replace(f"@{name}@", value)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Render the Auralis nginx site (docs/deploy.md).")
    p.add_argument("--upstream", action="append", help="instance host:port (repeat; default 127.0.0.1:8001 and :8002)")
    p.add_argument("--listen", action="append", help="nginx listen value (repeat; default 80 and [::]:80)")
    p.add_argument("--server-name", default=DEFAULT_SERVER_NAME, help="the site's host name(s)")
    p.add_argument("--hls-dir", default=DEFAULT_HLS_DIR, help="AURALIS_HLS_DIR of the instances")
    args = p.parse_args(argv)
    try:
        sys.stdout.write(
            render_site(
                tuple(args.upstream or DEFAULT_UPSTREAMS),
                listen=tuple(args.listen or DEFAULT_LISTEN),
                server_name=args.server_name,
                hls_dir=args.hls_dir,
            )
        )
    except ValueError as exc:
        print(f"nginx_site: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
