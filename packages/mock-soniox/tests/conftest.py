"""Fixtures every mock test may use (``mock_soniox`` itself comes from the package's pytest plugin).

Constants and client helpers live in ``mock_soniox.testing`` (``common``, ``stt``, ``tts``): under
``--import-mode=importlib`` a test module cannot import from this file, only ask for its fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.tts import TtsClient, open_tts


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client session for the test's HTTP requests and websockets."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def tts_client(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> AsyncIterator[TtsClient]:
    """A TTS connection with the test key, under the settings as they were when the test began."""
    client = await open_tts(http, mock_soniox.tts_url)
    yield client
    await client.ws.close()
