"""TTS load benchmark (a script, not a test): one mock process, 40 connections x 5 streams.

Every stream slot loops: config, one sentence, text_end, audio until ``terminated``, again. The
mock runs at ``time_scale=1`` (real pacing: first audio after ``tts_time_to_first_audio_ms``, then
audio at ``tts_realtime_factor`` x real time). Prints time-to-first-audio percentiles (from
text_end sent to first audio received), the mock's CPU per stream, its frame rate, and the rate a
bare aiohttp echo server moves the same frames on this machine (the ceiling).

    uv run python packages/mock-soniox/benchmarks/tts_bench.py [--conns 40] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import numpy as np
import psutil
from echo_ceiling import echo_rate

TEXT = "Hello there, this is one benchmark sentence for the mock. "
CONFIG = {
    "model": "tts-rt-v1-preview",
    "language": "en",
    "voice": "Bench",
    "audio_format": "pcm_s16le",
    "sample_rate": 24000,
    "speed": 1.0,
}
STREAM_PREFIX = '{"stream_id":"'


@dataclass
class Stats:
    measuring: bool = False
    ttfa_ms: list[float] = field(default_factory=list)
    frames: int = 0
    streams_done: int = 0
    errors: int = 0
    active: int = 0
    active_samples: list[int] = field(default_factory=list)


@contextlib.asynccontextmanager
async def mock_process(journal: bool) -> AsyncIterator[tuple[str, int]]:
    """``mock-soniox serve`` in its own process; yields (TTS URL, pid)."""
    env = {
        **os.environ,
        "MOCK_SONIOX_JOURNAL_ENABLED": "1" if journal else "0",
        "MOCK_SONIOX_LOG_LEVEL": "WARNING",
    }
    cmd = [sys.executable, "-m", "mock_soniox", "serve", "--port", "0", "--time-scale", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)  # noqa: ASYNC220
    try:
        assert proc.stdout is not None
        url = ""
        while not url:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
            if not line:
                raise RuntimeError("the mock exited before printing its URLs")
            if line.startswith("TTS"):
                url = line.split()[-1]
        yield url, proc.pid
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)


async def connection(
    url: str, index: int, streams: int, stagger: float, stats: Stats, stop: asyncio.Event
) -> None:
    """One socket with ``streams`` slots, each speaking sentence after sentence until ``stop``."""
    headers = {"Authorization": "Bearer bench"}
    first_audio: dict[str, asyncio.Future[float]] = {}
    done: dict[str, asyncio.Future[None]] = {}
    loop = asyncio.get_running_loop()

    async def reader(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            data = msg.data
            if not isinstance(data, str) or not data.startswith(STREAM_PREFIX):
                continue
            stream_id = data[len(STREAM_PREFIX) : data.index('"', len(STREAM_PREFIX))]
            now = loop.time()
            stats.frames += stats.measuring
            if '"audio"' in data:
                fut = first_audio.get(stream_id)
                if fut is not None and not fut.done():
                    fut.set_result(now)
            elif '"terminated"' in data:
                finished = done.pop(stream_id, None)
                if finished is not None and not finished.done():
                    finished.set_result(None)
            if '"error_code"' in data:
                stats.errors += 1
                if stats.errors <= 3:
                    print("error:", data, file=sys.stderr)
                fut = first_audio.get(stream_id)
                if fut is not None and not fut.done():
                    fut.set_result(float("nan"))

    async def slot(ws: aiohttp.ClientWebSocketResponse, slot_index: int) -> None:
        # Stream starts spread over ``stagger`` seconds, as independent callers would be.
        await asyncio.sleep(stagger * ((index * streams + slot_index) % 200) / 200)
        n = 0
        while not stop.is_set():
            n += 1
            stream_id = f"c{index}s{slot_index}n{n}"
            first_audio[stream_id] = loop.create_future()
            done[stream_id] = loop.create_future()
            await ws.send_str(json.dumps({"stream_id": stream_id, **CONFIG}))
            await ws.send_str(json.dumps({"stream_id": stream_id, "text": TEXT}))
            await ws.send_str(json.dumps({"stream_id": stream_id, "text_end": True}))
            sent = loop.time()
            measured = stats.measuring
            stats.active += 1
            try:
                first = await asyncio.wait_for(first_audio[stream_id], 30)
                del first_audio[stream_id]
                if measured and stats.measuring and first == first:  # nan: an error
                    stats.ttfa_ms.append((first - sent) * 1000)
                await asyncio.wait_for(done[stream_id], 30)
            finally:
                stats.active -= 1
            stats.streams_done += stats.measuring

    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, headers=headers, max_msg_size=0) as ws,
    ):
        read = asyncio.create_task(reader(ws))
        try:
            await asyncio.gather(*(slot(ws, i) for i in range(streams)))
        finally:
            read.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await read


async def sample_active(stats: Stats, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if stats.measuring:
            stats.active_samples.append(stats.active)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


async def run(args: argparse.Namespace) -> None:
    stats = Stats()
    stop = asyncio.Event()
    async with mock_process(args.journal) as (url, pid):
        server = psutil.Process(pid)
        client = psutil.Process()
        tasks = [
            asyncio.create_task(connection(url, i, args.streams, args.stagger, stats, stop))
            for i in range(args.conns)
        ]
        sampler = asyncio.create_task(sample_active(stats, stop))
        await asyncio.sleep(args.warmup)
        cpu0, client0, t0 = server.cpu_times(), client.cpu_times(), time.perf_counter()
        stats.measuring = True
        await asyncio.sleep(args.seconds)
        stats.measuring = False
        cpu1, client1, t1 = server.cpu_times(), client.cpu_times(), time.perf_counter()
        stop.set()
        await asyncio.gather(*tasks, sampler)
    elapsed = t1 - t0
    server_cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / elapsed
    client_cpu = (client1.user + client1.system - client0.user - client0.system) / elapsed
    concurrent = float(np.mean(stats.active_samples)) if stats.active_samples else 0.0
    audio_frame = json.dumps(
        {"stream_id": "c1s1n1", "audio": "A" * 6400, "audio_end": False}, separators=(",", ":")
    )
    ceiling = await echo_rate(audio_frame, conns=args.conns, seconds=5.0)

    print(f"TTS: {args.conns} connections x {args.streams} streams, {elapsed:.0f} s measured")
    print(f"  concurrent streams  mean {concurrent:.0f}, min {min(stats.active_samples)}")
    print(
        f"  time to first audio (configured 150 ms): p50 {pct(stats.ttfa_ms, 50):.1f} ms,"
        f" p99 {pct(stats.ttfa_ms, 99):.1f} ms, max {max(stats.ttfa_ms):.1f} ms"
        f" ({len(stats.ttfa_ms)} streams)"
    )
    print(f"  streams completed   {stats.streams_done / elapsed:.1f}/s, errors {stats.errors}")
    print(
        f"  mock CPU            {server_cpu * 100:.0f}% of a core,"
        f" {server_cpu * 100 / max(concurrent, 1):.2f}% per stream"
        f" (client process {client_cpu * 100:.0f}%)"
    )
    print(f"  mock audio frames   {stats.frames / elapsed:,.0f} frames/s (~6.5 KB each)")
    print(f"  bare aiohttp echo   {ceiling:,.0f} frames/s of the same frame (the ceiling)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conns", type=int, default=40)
    parser.add_argument("--streams", type=int, default=5, help="streams per connection")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--stagger", type=float, default=1.0, help="spread of stream starts, s")
    parser.add_argument("--journal", action="store_true", help="keep the journal on in the mock")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
