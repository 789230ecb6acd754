"""`mock-soniox serve` as a user runs it: prints its URLs, shuts down cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import aiohttp
import pytest


async def _start_serve(*args: str) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mock_soniox",
        "serve",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "MOCK_SONIOX_TIME_SCALE": "0"},
    )
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    async with asyncio.timeout(30):
        while len(urls) < 3:
            line = (await proc.stdout.readline()).decode().split()
            assert line, "serve exited before printing its URLs"
            urls[line[0]] = line[1]
    return proc, urls


async def test_serve_prints_urls_and_closes_live_sockets_with_1001_on_sigterm() -> None:
    proc, urls = await _start_serve()
    assert urls["STT"].startswith("ws://127.0.0.1:")
    assert urls["STT"].endswith("/transcribe-websocket")
    assert urls["TTS"].endswith("/tts-websocket")
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(urls["TTS"], headers={"Authorization": "Bearer k"})
        await ws.send_json({"keep_alive": True})
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            msg = await ws.receive()
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert msg.data == 1001
    async with asyncio.timeout(10):
        assert await proc.wait() == 0


async def test_only_configured_keys_are_accepted() -> None:
    proc, urls = await _start_serve("--api-key", "right")
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(urls["TTS"], headers={"Authorization": "Bearer wrong"})
            async with asyncio.timeout(10):
                frame = await ws.receive_json()
            assert frame["error_code"] == 401
            await ws.close()
    finally:
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            assert await proc.wait() == 0


async def test_faults_armed_on_the_command_line_apply_to_every_connection() -> None:
    proc, urls = await _start_serve("--fault", "refuse:status=503")
    try:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(urls["STT"], headers={"Authorization": "Bearer k"})
            assert info.value.status == 503
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await proc.wait() == 0


async def test_a_bad_fault_spec_is_a_clear_usage_error() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mock_soniox",
        "serve",
        "--port",
        "0",
        "--fault",
        "explode:now=1",
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        _, stderr = await proc.communicate()
    assert proc.returncode == 2
    assert b"--fault" in stderr and b"explode" in stderr
