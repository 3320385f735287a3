"""Origins and hosts: what a browser's ``Origin`` may be, and which ``Host`` names are served.

The settings validate and normalise ``AURALIS_ALLOWED_ORIGINS`` and ``AURALIS_ALLOWED_HOSTS``
with `parse_allowed_origin` and `parse_allowed_host` when they are read, so a bad value stops the
server before it starts, with a message that names the setting.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

#: The page scheme that matches a connection's scheme (a WebSocket's ws/wss is its page's http/https).
_PAGE_SCHEME = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def normalise_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, default ports dropped; '' if it is not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def origin_allowed(
    origin: str | None, host: str | None, allowed: Iterable[str], scheme: str | None = None
) -> bool:
    """Whether a browser's Origin may talk to this server.

    No Origin (a non-browser client) passes; a same-origin page passes: the Origin's scheme is the
    connection's (`scheme`: ``http``/``https``/``ws``/``wss`` as the server sees it, after a trusted
    proxy's ``X-Forwarded-Proto``) and its host:port is the Host header. An ``http://`` page is not
    the same origin as the ``https://`` site on the same host. Otherwise the Origin must be one of
    `allowed`.
    """
    if origin is None:
        return True
    norm = normalise_origin(origin)
    if not norm:
        return False
    parts = urlsplit(norm)
    same_scheme = scheme is None or _PAGE_SCHEME.get(scheme.lower()) == parts.scheme
    if host and same_scheme and parts.netloc == _strip_default_port(host.lower(), parts.scheme):
        return True
    return norm in {normalise_origin(a) for a in allowed}


def _strip_default_port(host: str, scheme: str) -> str:
    default = {"http": ":80", "https": ":443"}.get(scheme, "")
    return host[: -len(default)] if default and host.endswith(default) else host


def parse_allowed_origin(origin: str) -> str:
    """An ``AURALIS_ALLOWED_ORIGINS`` entry, normalised; ValueError naming the setting if it is none."""
    norm = normalise_origin(origin)
    if not norm:
        raise ValueError(
            f"AURALIS_ALLOWED_ORIGINS: {origin!r} is not an origin like https://auralis.example.com"
        )
    return norm


def parse_allowed_host(host: str) -> str:
    """An ``AURALIS_ALLOWED_HOSTS`` entry in lower case: a host name, ``*.domain`` or ``*``."""
    value = host.strip().lower()
    if not value or "*" in value[1:] or (value.startswith("*") and value != "*" and not value.startswith("*.")):
        raise ValueError(f"AURALIS_ALLOWED_HOSTS: {host!r} is not a host name or a *.domain pattern")
    return value
