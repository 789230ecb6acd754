"""STT benchmark: concurrent real-time sessions against one mock process (not a test).

Starts ``mock-soniox serve`` in a subprocess, feeds N sessions of 16 kHz s16le audio at real time
(one chunk every ``--chunk-ms``), and reports the result lag (a result's arrival minus the time the
chunk that completed its audio was sent), the mock's CPU per session, and, as the ceiling, how
many of the same frames per second one bare aiohttp websocket echo server moves on this machine
(and the mock itself when unpaced).

    uv run python packages/mock-soniox/benchmarks/stt_bench.py --sessions 100 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import echo_ceiling  # a sibling script: the bare echo server both benchmarks compare with
import numpy as np
import psutil

from mock_soniox.testing.stt import pcm16, speech

RATE = 16000
CONFIG = {
    "model": "stt-rt-v5",
    "audio_format": "pcm_s16le",
    "sample_rate": RATE,
    "num_channels": 1,
    "enable_endpoint_detection": True,
    "enable_language_identification": True,
    "max_endpoint_delay_ms": 2000,
}


@dataclass
class SessionStats:
    lags_ms: list[float] = field(default_factory=list)
    results: int = 0
    errors: int = 0


def speech_audio(seconds: float) -> bytes:
    """Alternating 1.5 s of tone and 1 s of silence, repeated to length."""
    pattern = speech(("tone", 1500), ("silence", 1000))
    reps = int(np.ceil(seconds * RATE / pattern.size))
    return pcm16(np.tile(pattern, reps)[: int(seconds * RATE)])


async def paced_session(
    http: aiohttp.ClientSession, url: str, audio: bytes, chunk_ms: int, start_at: float
) -> SessionStats:
    stats = SessionStats()
    chunk_bytes = RATE * 2 * chunk_ms // 1000
    sent_ms: list[float] = []  # audio clock after each chunk
    sent_at: list[float] = []  # when that chunk was sent
    ws = await http.ws_connect(url, headers={"Authorization": "Bearer bench"})

    async def reader() -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            now = time.perf_counter()
            frame = json.loads(msg.data)
            if "error_code" in frame:
                stats.errors += 1
                continue
            if frame.get("finished"):
                break
            stats.results += 1
            i = bisect.bisect_left(sent_ms, frame["total_audio_proc_ms"])
            if i < len(sent_at):
                stats.lags_ms.append((now - sent_at[i]) * 1000)

    await ws.send_str(json.dumps(CONFIG))
    read_task = asyncio.create_task(reader())
    try:
        await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
        t0 = time.perf_counter()
        for k, offset in enumerate(range(0, len(audio), chunk_bytes)):
            await asyncio.sleep(max(0.0, t0 + k * chunk_ms / 1000 - time.perf_counter()))
            chunk = audio[offset : offset + chunk_bytes]
            sent_ms.append((offset + len(chunk)) / (RATE * 2) * 1000)
            sent_at.append(time.perf_counter())
            await ws.send_bytes(chunk)
        await ws.send_str("")
        await asyncio.wait_for(read_task, 30)
    finally:
        read_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await read_task
        await ws.close()
    return stats


async def blast(url: str, frame: bytes, conns: int, seconds: float, config: bool) -> float:
    """Frames per second through ``url``: each connection sends, one in flight per reply."""
    moved = 0

    async def one(http: aiohttp.ClientSession) -> None:
        nonlocal moved
        ws = await http.ws_connect(url, headers={"Authorization": "Bearer bench"})
        if config:  # the mock: one result arrives per 120 ms chunk at the default interval
            await ws.send_str(json.dumps(CONFIG))
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            await ws.send_bytes(frame)
            msg = await ws.receive(timeout=10)
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                break
            moved += 1
        await ws.close()

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(one(http) for _ in range(conns)))
        return moved / (time.perf_counter() - started)


@contextlib.asynccontextmanager
async def subprocess_server(args: list[str], env: dict[str, str]) -> AsyncIterator[tuple[str, int]]:
    """Run a server in its own process; yields (the URL it prints first, its pid)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE, env={**os.environ, **env}
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        yield line.decode().split()[-1], proc.pid
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def run(args: argparse.Namespace) -> None:
    env = {
        "MOCK_SONIOX_JOURNAL_ENABLED": "1" if args.journal else "0",
        # One key for every session: lift the per-key concurrency limit (default 10).
        "MOCK_SONIOX_STT_MAX_CONCURRENT_PER_KEY": "100000",
    }
    mock_args = ["-m", "mock_soniox", "serve", "--port", "0", "--time-scale", "1"]
    audio = speech_audio(args.seconds)
    async with subprocess_server(mock_args, env) as (url, pid):
        server = psutil.Process(pid)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            cpu0, wall0 = server.cpu_times(), time.perf_counter()
            # Everyone connects first; then starts are spread over one chunk period, as
            # independent clients would be (--burst: all send at the same instants).
            start_at = time.perf_counter() + 1.0
            spread = 0.0 if args.burst else args.chunk_ms / 1000 / args.sessions
            stats = await asyncio.gather(
                *(
                    paced_session(http, url, audio, args.chunk_ms, start_at + i * spread)
                    for i in range(args.sessions)
                )
            )
            cpu1, wall1 = server.cpu_times(), time.perf_counter()
        cpu_s = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        wall = wall1 - wall0
        lags = [lag for s in stats for lag in s.lags_ms]
        print(
            f"STT paced: {args.sessions} sessions x {args.seconds:g} s audio, "
            f"{args.chunk_ms} ms chunks, journal {'on' if args.journal else 'off'}, "
            f"{'bursts' if args.burst else 'staggered starts'}"
        )
        print(
            f"  results {sum(s.results for s in stats)}, errors {sum(s.errors for s in stats)}; "
            f"lag ms p50 {pct(lags, 50):.1f} p99 {pct(lags, 99):.1f} max {max(lags):.1f}"
        )
        print(
            f"  mock CPU {100 * cpu_s / wall:.1f}% of one core over {wall:.1f} s = "
            f"{100 * cpu_s / wall / args.sessions:.2f}% per session"
        )
        frame = audio[: RATE * 2 * 120 // 1000]
        mock_rate = await blast(url, frame, args.ceiling_conns, args.ceiling_seconds, True)

    async with echo_ceiling.echo_server() as echo_url:
        echo_rate = await blast(echo_url, frame, args.ceiling_conns, args.ceiling_seconds, False)
    realtime_need = args.sessions * 1000 / args.chunk_ms
    print(f"Ceiling ({args.ceiling_conns} connections, 3,840-byte frames, one in flight each):")
    print(f"  bare aiohttp echo server {echo_rate:,.0f} frames/s")
    print(f"  mock STT unpaced         {mock_rate:,.0f} frames/s (one result per frame)")
    print(f"  the paced run needed     {realtime_need:,.0f} frames/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0, help="audio per session")
    parser.add_argument("--chunk-ms", type=int, default=120)
    parser.add_argument("--journal", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--burst", action="store_true", help="all sessions send in lockstep")
    parser.add_argument("--ceiling-conns", type=int, default=100)
    parser.add_argument("--ceiling-seconds", type=float, default=5.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
