"""Where a client's API key travels: Bearer header, subprotocol, or (legacy) in a message."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from aiohttp import web

SUBPROTOCOL = "soniox-api-key"


@dataclass(frozen=True)
class HandshakeAuth:
    key: str | None
    source: str | None  # "header" | "subprotocol" | None (legacy: the key comes in a message)
    conflict: bool = False  # a key in both the header and the subprotocol list


def handshake_auth(request: web.Request) -> HandshakeAuth:
    header_key: str | None = None
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        header_key = auth[7:].strip() or None
    proto_key: str | None = None
    protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if SUBPROTOCOL in protocols:
        rest = [p for p in protocols if p and p != SUBPROTOCOL]
        proto_key = rest[0] if rest else None
    if header_key and proto_key:
        return HandshakeAuth(header_key, "header", conflict=True)
    if header_key:
        return HandshakeAuth(header_key, "header")
    if proto_key:
        return HandshakeAuth(proto_key, "subprotocol")
    return HandshakeAuth(None, None)


def redact(key: str | None) -> str:
    """What a log line may say about a key: never the key itself."""
    return "<none>" if not key else f"<redacted:{len(key)} chars>"


def is_loopback(address: str | None) -> bool:
    """True for a loopback IP address (127.0.0.0/8, ::1)."""
    if not address:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def is_loopback_name(host: str) -> bool:
    """True for ``localhost`` or a loopback IP address."""
    return host.lower() == "localhost" or is_loopback(host)


def host_name(authority: str) -> str:
    """The host of ``host[:port]``, ``[v6][:port]`` or a bare IPv6 address."""
    authority = authority.partition("/")[0]
    if authority.startswith("["):
        return authority[1:].partition("]")[0]
    if authority.count(":") == 1:
        return authority.partition(":")[0]
    return authority
