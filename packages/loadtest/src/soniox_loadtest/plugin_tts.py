"""Driving our livekit plugin's TTS (its shared websocket pool) from plain asyncio code.

No gevent and no locust here: the load test runs these coroutines on an asyncio loop in a native
thread (see ``asyncio_thread``), and the unit tests run them on pytest's loop against the mock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from .tts_stream import StreamFailure, TTSStreamState

if TYPE_CHECKING:
    from livekit.plugins.soniox import TTS


@dataclass
class PluginTarget:
    """One plugin ``TTS`` per load-test process, with its own HTTP session."""

    tts: TTS
    session: aiohttp.ClientSession

    async def aclose(self) -> None:
        try:
            await self.tts.aclose()
        finally:
            await self.session.close()  # even if the plugin's close failed


async def open_plugin_tts(url: str, api_key: str, sample_rate: int = 24000) -> PluginTarget:
    """The plugin's TTS with a session whose connector does not cap the pool's sockets."""
    from livekit.plugins.soniox import TTS  # imported here: only (b) users pay for livekit

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    tts = TTS(api_key=api_key, websocket_url=url, sample_rate=sample_rate, http_session=session)
    return PluginTarget(tts, session)


async def synthesize(tts: TTS, texts: Sequence[str], timeout_s: float) -> TTSStreamState:
    """One plugin stream: push the texts, end input, collect audio; failures are recorded."""
    sample_rate = tts.sample_rate
    state = TTSStreamState("plugin", time.perf_counter(), sample_rate * 2 * tts.num_channels)
    stream = tts.stream()
    try:
        async with asyncio.timeout(timeout_s):
            for text in texts:
                stream.push_text(text)
            stream.end_input()
            async for event in stream:
                now = time.perf_counter()
                if state.first_audio_at is None:
                    state.first_audio_at = now
                state.audio_frames += 1
                state.audio_bytes += len(event.frame.data) * 2  # int16 samples
        state.audio_end = True
        state.ended_at = time.perf_counter()
        if not state.audio_bytes:
            state.failure = StreamFailure("no audio")
    except TimeoutError:
        state.on_timeout(time.perf_counter())
    except Exception as exc:  # the plugin's APIError family, after its own retries
        status = getattr(exc, "status_code", None)
        code = status if isinstance(status, int) and status > 0 else None
        label = f"{code} " if code is not None else ""
        state.failure = StreamFailure(f"{label}{type(exc).__name__}: {exc}", code)
        state.ended_at = time.perf_counter()
    finally:
        await stream.aclose()
    return state
