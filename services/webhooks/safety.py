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


def address_refusal(address: str, rules: Rules) -> str | None:
    """What kind of address `address` is, when it may not be called ("a loopback address"); else None."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
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
