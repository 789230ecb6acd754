"""The ceiling for the mock's benchmarks: how many frames a bare aiohttp websocket echo server
moves on this machine, in its own process, for a given frame.

    uv run python packages/mock-soniox/benchmarks/echo_ceiling.py [--size 6500] [--conns 40]

Other benchmarks import :func:`echo_rate` (scripts in this directory see each other).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web


def serve() -> None:
    """The echo server: every text or binary frame straight back."""

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/", echo)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        print(f"ECHO ws://127.0.0.1:{port}/", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[str]:
    """The echo server in a subprocess; yields its URL."""
    cmd = [sys.executable, __file__, "serve"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=dict(os.environ))  # noqa: ASYNC220
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        yield line.split()[-1]
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)


async def blast(url: str, frame: str | bytes, conns: int, seconds: float) -> float:
    """Frames per second the server sends back, with ``conns`` clients keeping 8 in flight each."""
    moved = 0
    deadline = time.perf_counter() + seconds

    async def one(http: aiohttp.ClientSession) -> None:
        nonlocal moved
        async with http.ws_connect(url) as ws:
            for _ in range(8):
                await _send(ws, frame)
            while time.perf_counter() < deadline:
                await ws.receive(timeout=10)
                moved += 1
                await _send(ws, frame)

    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        await asyncio.gather(*(one(http) for _ in range(conns)))
        return moved / (time.perf_counter() - started)


async def _send(ws: aiohttp.ClientWebSocketResponse, frame: str | bytes) -> None:
    if isinstance(frame, str):
        await ws.send_str(frame)
    else:
        await ws.send_bytes(frame)


async def echo_rate(frame: str | bytes, conns: int = 40, seconds: float = 5.0) -> float:
    """Start an echo server, measure it, stop it."""
    async with echo_server() as url:
        return await blast(url, frame, conns, seconds)


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        serve()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=6500, help="text frame size in bytes")
    parser.add_argument("--conns", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rate = asyncio.run(echo_rate("x" * args.size, args.conns, args.seconds))
    print(f"bare aiohttp echo: {rate:,.0f} frames/s of {args.size} bytes ({args.conns} conns)")


if __name__ == "__main__":
    main()
