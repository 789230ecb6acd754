"""pytest plugin (entry point ``pytest11``): a ``mock_soniox`` fixture for any test suite.

One server per test session, on a free loopback port and in its own thread, so tests on any
event loop can use it; the function-scoped ``mock_soniox`` handle resets it after each test.
Tests run with ``time_scale=0`` (no pacing) unless they ``configure`` otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from .journal import Journal
from .server import ThreadedMockServer
from .settings import Settings

TEST_SETTINGS = Settings(port=0, time_scale=0.0)


class MockSoniox:
    """What a test sees of the running mock."""

    def __init__(self, server: ThreadedMockServer) -> None:
        self._server = server

    @property
    def stt_url(self) -> str:
        return self._server.mock.stt_url

    @property
    def tts_url(self) -> str:
        return self._server.mock.tts_url

    @property
    def base_url(self) -> str:
        return self._server.mock.base_url

    @property
    def settings(self) -> Settings:
        return self._server.mock.state.settings

    @property
    def journal(self) -> Journal:
        return self._server.mock.state.journal

    def configure(self, **overrides: Any) -> Settings:
        """Change settings for connections opened from now on (until the test ends)."""
        state = self._server.mock.state
        new = dataclasses.replace(state.settings, **overrides)
        self._server.call(state.update, new)
        return new

    def connection_ids(self) -> list[str]:
        state = self._server.mock.state
        ids: list[str] = self._server.call(lambda: list(state.connections))
        return ids

    def reset(self) -> None:
        self._server.call(self._server.mock.state.reset)


@pytest.fixture(scope="session")
def mock_soniox_server() -> Iterator[ThreadedMockServer]:
    server = ThreadedMockServer(TEST_SETTINGS).start()
    yield server
    server.stop()


@pytest.fixture
def mock_soniox(mock_soniox_server: ThreadedMockServer) -> Iterator[MockSoniox]:
    handle = MockSoniox(mock_soniox_server)
    handle.reset()
    yield handle
    handle.reset()
