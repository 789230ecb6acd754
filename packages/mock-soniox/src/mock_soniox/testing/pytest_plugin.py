"""pytest plugin (entry point ``pytest11``): a ``mock_soniox`` fixture for any test suite.

One server per test session, on a free loopback port and in its own thread, so tests on any
event loop can use it; the function-scoped ``mock_soniox`` handle resets it after each test.
Tests run with ``time_scale=0`` (no pacing) unless they ``configure`` otherwise.

Conformance tests ask for ``soniox_target`` instead: the same mock by default, the live service
under ``MOCK_SONIOX_TARGET=live`` (with ``SONIOX_API_KEY``; ``testing/target.py``), where tests
marked ``mock_only`` are skipped. ``MOCK_SONIOX_OBSERVE=FILE`` writes what each test sent and saw
to FILE as JSON (``testing/observe.py``), the input of ``mock-soniox drift``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Coroutine, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..journal import Journal
from ..sanitize import redact_text
from ..server import admin
from ..server.runner import ThreadedMockServer
from ..settings import Settings
from . import observe
from .target import (
    KEY_ENV,
    OBSERVE_ENV,
    Target,
    TargetError,
    live_target,
    mock_target,
    target_name,
)

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


# --- the target: the in-process mock or the live service ---

MOCK_ONLY = (
    "mock_only(reason=None): the test needs what only the mock has (faults, the admin API, the "
    "time scale, the journal, fixtures, settings); skipped when MOCK_SONIOX_TARGET=live"
)
_LIVE = pytest.StashKey[Target | None]()
_OBSERVED = pytest.StashKey[dict[str, dict[str, Any]]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MOCK_ONLY)
    try:
        config.stash[_LIVE] = live_target() if target_name() == "live" else None
    except TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    if os.environ.get(OBSERVE_ENV):
        config.stash[_OBSERVED] = {}


def pytest_report_header(config: pytest.Config) -> str:
    live = config.stash.get(_LIVE, None)
    if live is None:
        return "soniox target: the in-process mock"
    return f"soniox target: live ({live.stt_url}, {live.tts_url}); mock_only tests are skipped"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.stash.get(_LIVE, None) is None:
        return
    for item in items:
        marker = item.get_closest_marker("mock_only")
        if marker is not None:
            why = marker.kwargs.get("reason") or (marker.args[0] if marker.args else None)
            reason = f"mock only: {why}" if why else "mock only"
        elif "mock_soniox" in getattr(item, "fixturenames", ()):
            reason = "mock only: uses the in-process mock (the mock_soniox fixture)"
        else:
            continue
        item.add_marker(pytest.mark.skip(reason=reason + "; not run against the live service"))


@pytest.fixture
def soniox_target(request: pytest.FixtureRequest) -> Target:
    """Where a conformance test connects: the mock (reset per test) or the live service."""
    live = request.config.stash.get(_LIVE, None)
    if live is not None:
        return live
    mock: MockSoniox = request.getfixturevalue("mock_soniox")
    return mock_target(mock.stt_url, mock.tts_url)


@pytest.fixture
def mock_behind_target(request: pytest.FixtureRequest) -> MockSoniox | None:
    """The mock ``soniox_target`` points at, or None when it is the live service.

    For a test that runs on both but must give the mock a setting the service already has
    (e.g. which keys are valid).
    """
    if request.config.stash.get(_LIVE, None) is not None:
        return None
    mock: MockSoniox = request.getfixturevalue("mock_soniox")
    return mock


# --- observations for the drift report (MOCK_SONIOX_OBSERVE=FILE) ---


def _without_key(text: str) -> str:
    """``text`` with the target's key replaced, should anything have echoed it."""
    key = os.environ.get(KEY_ENV, "").strip()
    # A key too short to be real would only mangle the text; real keys are long.
    return text.replace(key, "REDACTED") if len(key) >= 8 else text


def _scrub(text: str) -> str:
    cleaned, _ = redact_text(text)
    return _without_key(cleaned)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    observed = item.config.stash.get(_OBSERVED, None)
    if observed is None:
        return (yield)
    observation = observe.Observation()
    observe.activate(observation)
    try:
        return (yield)
    finally:
        observe.activate(None)
        outcome = observed.get(item.nodeid, {})
        observed[item.nodeid] = {**observation.as_json(), **outcome}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    observed = item.config.stash.get(_OBSERVED, None)
    if observed is None or not (report.when == "call" or report.failed or report.skipped):
        return report
    entry: dict[str, Any] = {"outcome": report.outcome}
    if report.skipped and isinstance(report.longrepr, tuple):
        entry["reason"] = _scrub(str(report.longrepr[2]))
    elif report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        message = getattr(crash, "message", None) or str(report.longrepr)
        entry["message"] = _scrub(message.splitlines()[0] if message else "")[:500]
    observed[item.nodeid] = entry
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    observed = session.config.stash.get(_OBSERVED, None)
    path = os.environ.get(OBSERVE_ENV)
    if observed is None or not path:
        return
    live = session.config.stash.get(_LIVE, None)
    body = {
        "target": "live" if live else "mock",
        "stt_url": live.stt_url if live else "in-process mock",
        "tts_url": live.tts_url if live else "in-process mock",
        "tests": observed,
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Frames and notes were scrubbed as they were recorded; this is a last guard.
    out.write_text(_without_key(json.dumps(body, ensure_ascii=False)) + "\n")
