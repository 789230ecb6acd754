"""Shared helpers for the plugin tests (the ``mock_soniox`` fixture comes from mock-soniox)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
import numpy as np
import pytest
from livekit import rtc

from mock_soniox.journal import Journal, JournalEntry


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def speech_like_audio(
    utterances: int = 2,
    words: int = 3,
    *,
    sample_rate: int = 16000,
    channels: int = 1,
    frame_ms: int = 20,
    lead_ms: int = 200,
    pause_ms: int = 1200,
) -> list[rtc.AudioFrame]:
    """Tone bursts (words) and silences (endpoints) the mock's synthetic recognizer hears."""
    rate = sample_rate
    pieces: list[np.ndarray] = [np.zeros(rate * lead_ms // 1000)]
    t = np.arange(rate * 300 // 1000) / rate
    word = 0.3 * np.sin(2 * np.pi * 220 * t)
    for _ in range(utterances):
        for _ in range(words):
            pieces += [word, np.zeros(rate * 160 // 1000)]
        pieces.append(np.zeros(rate * pause_ms // 1000))
    mono = (np.concatenate(pieces) * 32767).astype(np.int16)
    samples = np.repeat(mono.reshape(-1, 1), channels, axis=1)
    step = rate * frame_ms // 1000
    return [
        rtc.AudioFrame(samples[i : i + step].tobytes(), rate, channels, len(samples[i : i + step]))
        for i in range(0, len(samples), step)
    ]


def frames_duration(frames: list[rtc.AudioFrame]) -> float:
    return sum(f.samples_per_channel / f.sample_rate for f in frames)


def other_tasks() -> set[asyncio.Task[object]]:
    """Tasks alive besides the test's own (for leak checks)."""
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current and not t.done()}


async def wait_journal(
    journal: Journal, predicate: Callable[[JournalEntry], bool], within: float = 5.0
) -> JournalEntry:
    """The first journal entry (past or future) matching ``predicate``; no polling."""
    loop = asyncio.get_running_loop()
    found: asyncio.Future[JournalEntry] = loop.create_future()

    def settle(entry: JournalEntry) -> None:
        if not found.done():
            found.set_result(entry)

    def listener(entry: JournalEntry) -> None:
        if predicate(entry):
            loop.call_soon_threadsafe(settle, entry)

    unsubscribe = journal.subscribe(listener)
    try:
        for entry in journal.entries():
            if predicate(entry):
                return entry
        return await asyncio.wait_for(found, within)
    finally:
        unsubscribe()


@pytest.fixture(autouse=True)
async def livekit_http_context() -> AsyncIterator[None]:
    """What a livekit worker provides: ``utils.http_context.http_session()`` for plugins."""
    from livekit.agents import utils

    async with utils.http_context.open():
        yield
