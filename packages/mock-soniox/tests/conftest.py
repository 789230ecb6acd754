"""Fixtures every mock test may use (``mock_soniox`` itself comes from the package's pytest plugin).

Constants and client helpers live in ``mock_soniox.testing`` (``common``, ``stt``, ``tts``): under
``--import-mode=importlib`` a test module cannot import from this file, only ask for its fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from mock_soniox.testing.target import Target
from mock_soniox.testing.tts import TtsClient, open_tts


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client session for the test's HTTP requests and websockets."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def tts_client(soniox_target: Target) -> AsyncIterator[TtsClient]:
    """A TTS connection to the target with its key (on the mock: under the settings as they
    were when the test began)."""
    async with soniox_target.session() as http:
        client = await open_tts(http, soniox_target.tts_url, soniox_target.headers)
        yield client
        await client.ws.close()
