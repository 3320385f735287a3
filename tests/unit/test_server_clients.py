"""Client address keys (auralis.server.clients): IPv6 by /64, IPv4 as it is."""

from __future__ import annotations

from auralis.server.clients import client_key, scope_client_key


def test_ipv6_keyed_by_64_and_ipv4_as_is():
    assert client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::1")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("[2001:db8::1]") == "2001:db8::/64"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"  # IPv4-mapped: the IPv4 address
    assert client_key("192.0.2.7") == "192.0.2.7" and client_key("192.0.2.8") == "192.0.2.8"
    assert client_key("testclient") == "testclient" and client_key(None) == "unknown"
    assert scope_client_key({"client": ("2001:db8::5", 443)}) == "2001:db8::/64"
    assert scope_client_key({}) == "unknown"
