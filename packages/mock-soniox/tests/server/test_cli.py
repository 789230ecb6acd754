"""`mock-soniox serve` as a user runs it: prints its URLs, shuts down cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

SERVE = (sys.executable, "-m", "mock_soniox", "serve", "--port", "0")


@contextlib.asynccontextmanager
async def serving(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, str]]]:
    """``mock-soniox serve`` in a subprocess; yields it and its printed URLs; it must exit 0."""
    proc = await asyncio.create_subprocess_exec(
        *SERVE,
        *args,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "MOCK_SONIOX_TIME_SCALE": "0"},
    )
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    async with asyncio.timeout(30):
        while len(urls) < 4:
            line = (await proc.stdout.readline()).decode().split()
            assert line, "serve exited before printing its URLs"
            urls[line[0]] = line[1]
    try:
        yield proc, urls
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            assert await proc.wait() == 0


async def test_serve_prints_urls_and_closes_live_sockets_with_1001_on_sigterm() -> None:
    async with serving() as (proc, urls), aiohttp.ClientSession() as http:
        assert urls["STT"].startswith("ws://127.0.0.1:")
        assert urls["STT"].endswith("/transcribe-websocket")
        assert urls["TTS"].endswith("/tts-websocket")
        port = urls["STT"].split(":")[2].split("/")[0]
        assert urls["UI"] == f"http://127.0.0.1:{port}/__admin/ui"
        async with http.get(urls["UI"]) as page:
            assert page.status == 200
            assert "mock-soniox dashboard" in await page.text()
        ws = await http.ws_connect(urls["TTS"], headers={"Authorization": "Bearer k"})
        await ws.send_json({"keep_alive": True})
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            msg = await ws.receive()
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert msg.data == 1001


async def test_only_configured_keys_are_accepted() -> None:
    async with serving("--api-key", "right") as (_, urls), aiohttp.ClientSession() as http:
        ws = await http.ws_connect(urls["TTS"], headers={"Authorization": "Bearer wrong"})
        async with asyncio.timeout(10):
            frame = await ws.receive_json()
        assert frame["error_code"] == 401
        await ws.close()


async def test_faults_armed_on_the_command_line_apply_to_every_connection() -> None:
    async with (
        serving("--fault", "refuse:status=503") as (_, urls),
        aiohttp.ClientSession() as http,
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(urls["STT"], headers={"Authorization": "Bearer k"})
        assert info.value.status == 503


async def test_a_bad_fault_spec_is_a_clear_usage_error() -> None:
    proc = await asyncio.create_subprocess_exec(
        *SERVE, "--fault", "explode:now=1", stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(30):
        _, stderr = await proc.communicate()
    assert proc.returncode == 2
    assert b"--fault" in stderr and b"explode" in stderr
