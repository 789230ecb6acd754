"""pytest fixtures for offline agent sessions (opt in: they import livekit-agents).

In a ``conftest.py``::

    from mock_soniox.agents.pytest_plugin import offline_agent  # noqa: F401

or ``pytest_plugins = ["mock_soniox.agents.pytest_plugin"]`` in the root ``conftest.py``. Then::

    async def test_greets(offline_agent):
        call = await offline_agent(llm=["Hello! How can I help?"])
        await call.wait_for_replies(1, timeout_s=30)
        assert call.user_transcripts[0].text == "What is the weather like today?"
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, Protocol

import pytest

from .audio import PlayedAudioInput
from .session import TWO_TURNS_WAV, OfflineSession, offline_session


class StartOfflineAgent(Protocol):
    """``await offline_agent(audio=..., **offline_session_kwargs)``: a running session."""

    def __call__(
        self, audio: PlayedAudioInput | str | Path = ..., **kwargs: Any
    ) -> Awaitable[OfflineSession]: ...


@pytest.fixture
async def offline_agent() -> AsyncIterator[StartOfflineAgent]:
    """Start offline sessions (default audio: the two-turn fixture); all closed after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            audio: PlayedAudioInput | str | Path = TWO_TURNS_WAV, **kwargs: Any
        ) -> OfflineSession:
            return await stack.enter_async_context(offline_session(audio, **kwargs))

        yield start
