"""Running the app: in the current event loop, or in a thread of its own (for tests and tools)."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

from aiohttp import web

from ..protocol import STT_PATH, TTS_PATH
from ..settings import Settings
from ..state import MockState, state_of
from .app import create_app


class MockServer:
    """``async with MockServer(settings) as server:`` serves until the block ends."""

    def __init__(
        self, settings: Settings | None = None, *, workers: int = 1, reuse_port: bool = False
    ) -> None:
        """``reuse_port``: bind with SO_REUSEPORT, so that several processes (``workers`` of
        them) share the port and the kernel spreads connections among them."""
        self.app = create_app(settings, workers=workers)
        self.reuse_port = reuse_port
        self._runner: web.AppRunner | None = None
        self.host = ""
        self.port = 0

    @property
    def state(self) -> MockState:
        return state_of(self.app)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def stt_url(self) -> str:
        return f"ws://{self.host}:{self.port}{STT_PATH}"

    @property
    def tts_url(self) -> str:
        return f"ws://{self.host}:{self.port}{TTS_PATH}"

    async def start(self) -> None:
        settings = self.state.settings
        # keepalive_timeout also closes a socket that never completes a request (idle or slow
        # headers), so idle and slowloris connections cannot pile up.
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            shutdown_timeout=2.0,
            keepalive_timeout=settings.timer(settings.http_idle_timeout_s),
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            settings.host,
            settings.port,
            backlog=1024,
            reuse_port=self.reuse_port or None,
        )
        await site.start()
        self.host, self.port = self._runner.addresses[0][:2]  # the bound port when asked for 0

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MockServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class ThreadedMockServer:
    """The mock on its own event loop in a daemon thread, so any test loop can talk to it."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings or Settings(port=0)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="mock-soniox", daemon=True)
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.server: MockServer | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            self.server = MockServer(self._settings)
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.stop()

    def start(self) -> ThreadedMockServer:
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("mock-soniox did not start within 30 s")
        if self._error is not None:
            raise RuntimeError("mock-soniox failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=30)

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the server's loop and return its result (thread-safe)."""

        async def _call() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(_call(), self._loop).result(timeout=30)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def mock(self) -> MockServer:
        assert self.server is not None, "server not started"
        return self.server
