"""No server-side request forgery: an endpoint's URL must be https (http only by a setting), and
every address its host resolves to must be public, unless a setting allows loopback or private
ones. The check runs when an endpoint is registered and again before every attempt, and the
attempt connects to an address it checked (no second, different DNS answer)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


class Unsafe(ValueError):
    """The URL or what it resolves to is not allowed; the message says why."""


@dataclass(frozen=True, slots=True)
class Rules:
    allow_http: bool = False
    allow_loopback: bool = False
    allow_private: bool = False


def check_url(url: str, rules: Rules) -> tuple[str, str, int]:
    """(scheme, host, port) of an allowed URL, else Unsafe."""
    if len(url) > 2_000:
        raise Unsafe("the URL is longer than 2,000 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not rules.allow_http):
        raise Unsafe("the URL must be https" + ("" if parts.scheme == "http" else f", not {parts.scheme or 'missing'}"))
    if parts.username or parts.password:
        raise Unsafe("the URL must not carry a user name or password")
    if not parts.hostname:
        raise Unsafe("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Unsafe("the URL's port is not a number from 1 to 65535") from None
    return parts.scheme, parts.hostname, port


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052's well-known prefix
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local-use translation
_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291's deprecated IPv4-compatible form
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765's IPv4-translated form


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries inside it, which a translator, a tunnel or the
    kernel itself may connect to: mapped, compatible, translated, NAT64 (both prefixes), 6to4 and
    Teredo (its server and its client)."""
    value = int(ip)
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _COMPATIBLE and value > 1 or ip in _TRANSLATED or ip in _NAT64:
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if ip in _NAT64_LOCAL:  # RFC 6052 for a /48 prefix: bits 48-63 and 72-87, the u octet between
        found.append(ipaddress.IPv4Address(((value >> 64) & 0xFFFF) << 16 | (value >> 40) & 0xFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def address_refusal(address: str, rules: Rules) -> str | None:
    """What kind of address `address` is, when it may not be called ("a loopback address"); else
    None. An IPv6 address carrying an IPv4 one is judged by both: the worse refusal wins."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        for v4 in inner:
            refusal = _refusal(v4, rules)
            if refusal:
                return f"{refusal} inside an IPv6 address"
        if inner and ip in _NAT64_LOCAL and not rules.allow_private:
            return "a local-use NAT64 address (private)"
        if inner and ip.ipv4_mapped is not None:
            return None  # the socket connects to the IPv4 address itself, judged above
    return _refusal(ip, rules)


def _refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, rules: Rules) -> str | None:
    if ip.is_loopback:
        return None if rules.allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "link-local (cloud metadata lives there)"
    if ip.is_multicast or ip.is_unspecified:
        return "not a unicast address"
    if not ip.is_global:
        return None if rules.allow_private else "a private or reserved address"
    return None


async def resolve(host: str, port: int, rules: Rules) -> str:
    """An address of `host` to connect to, every one of its addresses checked; else Unsafe."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Unsafe(f"{host} does not resolve ({exc.strerror})") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise Unsafe(f"{host} does not resolve")
    for address in addresses:
        kind = address_refusal(address, rules)
        if kind:
            literal = host.strip("[]") == address
            raise Unsafe(f"{address} is {kind}" if literal else f"{host} resolves to {address}, {kind}")
    return addresses[0]
