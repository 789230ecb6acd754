"""pytest plugin (entry point ``pytest11``): a ``mock_soniox`` fixture for any test suite.

One server per test session, on a free loopback port and in its own thread, so tests on any
event loop can use it; the function-scoped ``mock_soniox`` handle resets it after each test.
Tests run with ``time_scale=0`` (no pacing) unless they ``configure`` otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from ..journal import Journal
from ..server import admin
from ..server.runner import ThreadedMockServer
from ..settings import Settings

TEST_SETTINGS = Settings(port=0, time_scale=0.0)


class FaultControl:
    """``mock_soniox.faults``: arm faults for every new connection they apply to.

    Rules last until :meth:`clear` or the end of the test; ``times=N`` heals one after N firings.
    """

    def __init__(self, server: ThreadedMockServer) -> None:
        self._server = server

    def add(self, spec: str) -> dict[str, Any]:
        """Arm ``spec`` (``NAME[:key=value,...]``); returns its id, canonical spec and count."""
        rule: dict[str, Any] = self._server.call(admin.add_fault, self._server.mock.state, spec)
        return rule

    def remove(self, rule_id: str) -> None:
        self._server.call(admin.remove_fault, self._server.mock.state, rule_id)

    def clear(self) -> None:
        """Disarm every rule and forget every ``times``/``p`` count."""
        self._server.call(admin.clear_faults, self._server.mock.state)

    def list(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = self._server.call(admin.list_faults, self._server.mock.state)
        return rules

    def grammar(self) -> dict[str, Any]:
        """Every fault with its keys and the required ones (``GET /__admin/faults/grammar``)."""
        return admin.fault_grammar()


class MockSoniox:
    """What a test sees of the running mock: the admin API's operations, in Python."""

    def __init__(self, server: ThreadedMockServer) -> None:
        self._server = server
        self.faults = FaultControl(server)

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

    @property
    def admin_url(self) -> str:
        return self._server.mock.base_url + admin.PREFIX

    def configure(self, **overrides: Any) -> Settings:
        """Change settings for connections opened from now on (until the test ends).

        Values are type-checked as ``PATCH /__admin/settings`` checks them (ValueError if wrong).
        """
        new: Settings = self._server.call(admin.patch_settings, self._server.mock.state, overrides)
        return new

    patch_settings = configure

    def connections(self) -> list[dict[str, Any]]:
        """Live connections and their streams, as ``GET /__admin/connections`` lists them."""
        conns: list[dict[str, Any]] = self._server.call(
            admin.list_connections, self._server.mock.state
        )
        return conns

    async def close_connection(self, conn_id: str, code: int = 1000) -> None:
        """Close a live connection with ``code`` (1006: cut TCP, no close frame)."""
        await self._on_server(admin.close_connection(self._server.mock.state, conn_id, code))

    async def push(self, conn_id: str, frame: dict[str, Any]) -> None:
        """Send ``frame`` to a live connection as if the server had produced it."""
        await self._on_server(admin.push(self._server.mock.state, conn_id, frame))

    async def _on_server(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` on the server's loop; await it without blocking this one."""
        future = asyncio.run_coroutine_threadsafe(coro, self._server.loop)
        async with asyncio.timeout(30):
            await asyncio.wrap_future(future)

    def connection(self, conn_id: str) -> dict[str, Any]:
        """One live connection in detail (ValueError if it is gone)."""
        conn: dict[str, Any] = self._server.call(
            lambda: admin.connection_info(admin.live_connection(self._server.mock.state, conn_id))
        )
        return conn

    def fixtures(self) -> list[dict[str, Any]]:
        """The fixture library replay uses, as ``GET /__admin/fixtures`` lists it."""
        listed: list[dict[str, Any]] = self._server.call(
            admin.list_fixtures, self._server.mock.state
        )
        return listed

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
