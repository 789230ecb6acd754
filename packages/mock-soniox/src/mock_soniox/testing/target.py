"""Which server the conformance tests talk to: the in-process mock (default) or the live service.

``MOCK_SONIOX_TARGET=live`` with ``SONIOX_API_KEY`` set points every conformance and contract
test that can run against the service at the real endpoints (``MOCK_SONIOX_LIVE_STT_URL`` and
``MOCK_SONIOX_LIVE_TTS_URL`` override them, e.g. to play "live" with a second mock). Tests that
only the mock can run carry the ``mock_only`` marker and are skipped there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from ..protocol import REAL_STT_URL, REAL_TTS_URL
from .common import BEARER
from .observe import ObservedWebSocket

TARGET_ENV = "MOCK_SONIOX_TARGET"
KEY_ENV = "SONIOX_API_KEY"
LIVE_STT_ENV = "MOCK_SONIOX_LIVE_STT_URL"
LIVE_TTS_ENV = "MOCK_SONIOX_LIVE_TTS_URL"
OBSERVE_ENV = "MOCK_SONIOX_OBSERVE"
TARGETS = ("mock", "live")
MOCK_KEY = BEARER["Authorization"].removeprefix("Bearer ")


class TargetError(ValueError):
    """The environment asks for a target it does not fully describe."""


@dataclass(frozen=True)
class Target:
    """Where a test connects, with which key. The key is never part of its repr."""

    name: Literal["mock", "live"]
    stt_url: str
    tts_url: str
    api_key: str = field(repr=False)

    @property
    def is_live(self) -> bool:
        return self.name == "live"

    @property
    def headers(self) -> dict[str, str]:
        """The handshake headers that authenticate with this target's key."""
        return {"Authorization": f"Bearer {self.api_key}"}

    def session(self, **kwargs: Any) -> aiohttp.ClientSession:
        """An aiohttp session whose websockets are recorded for the drift report."""
        return aiohttp.ClientSession(ws_response_class=ObservedWebSocket, **kwargs)


def target_name(environ: Mapping[str, str] | None = None) -> Literal["mock", "live"]:
    """``mock`` or ``live`` from ``MOCK_SONIOX_TARGET`` (TargetError for anything else)."""
    env = os.environ if environ is None else environ
    name = env.get(TARGET_ENV, "").strip().lower() or "mock"
    if name == "mock":
        return "mock"
    if name == "live":
        return "live"
    raise TargetError(f"{TARGET_ENV} must be one of {', '.join(TARGETS)}, not {name!r}")


def live_target(environ: Mapping[str, str] | None = None) -> Target:
    """The live endpoints and key from the environment (TargetError without a key)."""
    env = os.environ if environ is None else environ
    key = env.get(KEY_ENV, "").strip()
    if not key:
        raise TargetError(f"{TARGET_ENV}=live needs {KEY_ENV} (the live service's API key)")
    return Target(
        name="live",
        stt_url=env.get(LIVE_STT_ENV) or REAL_STT_URL,
        tts_url=env.get(LIVE_TTS_ENV) or REAL_TTS_URL,
        api_key=key,
    )


def mock_target(stt_url: str, tts_url: str) -> Target:
    """The in-process mock, with the key every mock test uses."""
    return Target(name="mock", stt_url=stt_url, tts_url=tts_url, api_key=MOCK_KEY)
