"""Who a client is, for limits: its address, with an IPv6 client counted by its /64.

An IPv6 end site usually gets a whole /64 (often more), so a client can pick a new address in it
for every request; per-address limits and caps therefore key IPv6 clients by their /64 network.
IPv4 addresses (and IPv4-mapped IPv6 ones) are keyed as they are.
"""

from __future__ import annotations

import ipaddress
from typing import Any

IPV6_PREFIX = 64


def client_key(host: str | None) -> str:
    """The limit key of a client address: ``192.0.2.7``, ``2001:db8:1:2::/64``; other text as is."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return host  # a Unix socket path or a test client's name
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


def scope_client_key(scope: Any) -> str:
    """`client_key` of an ASGI scope's client (uvicorn has already applied trusted proxies)."""
    client = scope.get("client")
    return client_key(client[0] if client else None)
