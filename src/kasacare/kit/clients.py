"""Who is the client of a request, for counting its failures (issue 13, hardening).

Behind a reverse proxy the peer address is the proxy's: counting failures by it would lock
every user out at once. So `X-Forwarded-For` is believed only when the peer is a proxy listed
in `KASACARE_TRUSTED_PROXIES`, and then only as far as the chain stays within those proxies:
the client is the right-most address a trusted proxy added (what the client itself wrote at
the left can be forged). An IPv6 client counts as its /64, the block one subscriber holds, so
rotating addresses inside it escapes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Network = IPv4Network | IPv6Network

UNKNOWN = "unknown"


def parse_networks(text: str) -> tuple[Network, ...]:
    """`"10.0.0.0/8, 127.0.0.1, ::1"` -> networks; ValueError names a bad entry."""
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {entry!r}") from None
    return tuple(networks)


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def is_trusted_proxy(peer: str | None, proxies: Sequence[Network]) -> bool:
    """Whether the request's peer is one of the trusted proxies (its forwarded headers hold)."""
    address = _address(peer) if peer else None
    return address is not None and _trusted(address, proxies)


def client_key(peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
    """The client's address as counted: an IPv4 address, or an IPv6 /64 network."""
    address = _address(peer) if peer else None
    if address is None:
        return UNKNOWN
    if forwarded_for and _trusted(address, proxies):
        for hop in reversed(forwarded_for.split(",")):
            forwarded = _address(hop)
            if forwarded is None:
                break  # a garbled chain: keep the last address a trusted hop vouched for
            address = forwarded
            if not _trusted(address, proxies):
                break
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)
