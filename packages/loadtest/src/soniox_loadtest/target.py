"""Where the load goes: the mock by default, any host given, or the real service on request."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

TTS_PATH = "/tts-websocket"
STT_PATH = "/transcribe-websocket"
REAL_TTS_URL = "wss://tts-rt.soniox.com/tts-websocket"
REAL_STT_URL = "wss://stt-rt.soniox.com/transcribe-websocket"
MOCK_API_KEY = "loadtest-key"  # any non-empty key passes the mock's default auth


@dataclass(frozen=True)
class Target:
    tts_url: str
    stt_url: str
    api_key: str


def endpoint_url(host: str, path: str) -> str:
    """``ws://h:p`` (or http/https/wss, with or without a path) -> ``ws://h:p`` + ``path``."""
    parts = urlsplit(host if "://" in host else f"ws://{host}")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(
            f"unsupported URL scheme in {host!r}: use ws://, wss://, http:// or https://"
        )
    base = parts.path.rstrip("/")
    if base.endswith((TTS_PATH, STT_PATH)):
        base = base.rsplit("/", 1)[0]
    return urlunsplit((scheme, parts.netloc, base + path, "", ""))


def is_loopback(url: str) -> bool:
    """True for ``localhost`` and loopback IP literals; other names count as remote.

    Names are not resolved: deciding needs no DNS, and a name that happens to resolve to
    127.0.0.1 today is still treated as remote.
    """
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def needs_mock(
    host: str | None, tts_url: str | None, stt_url: str | None, allow_remote: bool
) -> bool:
    """No target given and the real service not asked for: the run starts its own mock."""
    return not (host or (tts_url and stt_url) or allow_remote)


def resolve(
    host: str | None,
    tts_url: str | None,
    stt_url: str | None,
    api_key: str | None,
    *,
    allow_remote: bool,
) -> Target:
    """Explicit URLs win over ``host``; anything off this machine needs ``allow_remote``."""
    if host is None and (tts_url is None or stt_url is None) and not allow_remote:
        raise ValueError("no target: give --host, or both --tts-url and --stt-url")
    tts = tts_url or (endpoint_url(host, TTS_PATH) if host else REAL_TTS_URL)
    stt = stt_url or (endpoint_url(host, STT_PATH) if host else REAL_STT_URL)
    remote = [url for url in (tts, stt) if not is_loopback(url)]
    if remote and not allow_remote:
        raise ValueError(
            f"{remote[0]} is not on this machine; pass --allow-remote to load a remote service "
            "(the real Soniox service bills every stream)"
        )
    if remote and not api_key:
        raise ValueError(f"{remote[0]} needs a key: set SONIOX_API_KEY or pass --api-key")
    return Target(tts, stt, api_key or MOCK_API_KEY)
