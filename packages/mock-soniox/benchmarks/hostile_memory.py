"""Peak memory of a mock process under the hostile TTS workloads of issue 12 (a script, not a test).

Two workloads against a mock in its own process, sampling its RSS every 50 ms:

- ``long-texts``: 8 connections x 5 streams, each sent one 5,000-character text with ``text_end``,
  read to the end by a well-behaved client;
- ``silent``: 5 connections x 5 long ``pcm_f32le`` 48 kHz streams whose client never reads.

Prints the mock's RSS before, its peak, and how each workload ended.

    uv run python packages/mock-soniox/benchmarks/hostile_memory.py [--format pcm_s16le|mp3|...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import psutil

from mock_soniox.testing.tts import NonReadingClient

TEXT = ("A sentence that goes on for a while, as replies do. " * 96)[:5000]
BEARER = {"Authorization": "Bearer bench"}


@contextlib.asynccontextmanager
async def mock_process(*flags: str) -> AsyncIterator[tuple[str, psutil.Process]]:
    """``mock-soniox serve --port 0`` in a child process; its TTS URL and process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_soniox", "serve", "--port", "0", "--log-level", "WARNING",
        *flags, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        url = ""
        while not url:
            async with asyncio.timeout(30):
                line = (await proc.stdout.readline()).decode()
            if not line:
                raise RuntimeError("the mock exited")
            if line.startswith("TTS"):
                url = line.split()[1]
        yield url, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        async with asyncio.timeout(10):
            await proc.wait()


async def sample_peak(process: psutil.Process, stop: asyncio.Event) -> int:
    peak = 0
    while not stop.is_set():
        peak = max(peak, process.memory_info().rss)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.05):
                await stop.wait()
    return peak


async def long_texts(url: str, audio_format: str) -> str:
    errors: Counter[str] = Counter()

    async def one_connection(http: aiohttp.ClientSession, c: int) -> int:
        done = 0
        async with http.ws_connect(url, headers=BEARER, max_msg_size=0) as ws:
            for s in range(5):
                sid = f"c{c}s{s}"
                await ws.send_json(
                    {"stream_id": sid, "model": "tts-rt-v2", "language": "en",
                     "voice": "Bench", "audio_format": audio_format}
                )  # fmt: skip
                await ws.send_json({"stream_id": sid, "text": TEXT, "text_end": True})
            async with asyncio.timeout(600):
                async for msg in ws:
                    frame = json.loads(msg.data)
                    if "error_code" in frame:
                        errors[f"{frame['error_code']} {frame['error_message']}"] += 1
                    done += bool(frame.get("terminated"))
                    if done == 5:
                        break
        return done

    async with aiohttp.ClientSession() as http:
        done = sum(await asyncio.gather(*(one_connection(http, c) for c in range(8))))
    return f"{done} streams ended; errors: {dict(errors) or 'none'}"


async def silent(url: str, audio_format: str) -> str:
    clients = [await NonReadingClient.connect(url) for _ in range(5)]
    for c, client in enumerate(clients):
        for s in range(5):
            sid = f"c{c}s{s}"
            await client.send(
                {"stream_id": sid, "model": "tts-rt-v2", "language": "en", "voice": "Bench",
                 "audio_format": "pcm_f32le", "sample_rate": 48000}
            )  # fmt: skip
            await client.send({"stream_id": sid, "text": TEXT, "text_end": True})
    started = time.monotonic()
    open_clients = list(clients)
    async with asyncio.timeout(120):
        while open_clients:  # a client learns it was cut off when its next send fails
            await asyncio.sleep(0.5)
            for client in list(open_clients):
                try:
                    await client.send({"keep_alive": True})
                except ConnectionError:
                    open_clients.remove(client)
    for client in clients:
        client.close()
    return f"the mock cut the silent clients off within {time.monotonic() - started:.1f} s"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--format", default="pcm_s16le", help="audio_format of long-texts")
    args = parser.parse_args()
    for name, workload in (("long-texts", long_texts), ("silent", silent)):
        async with mock_process() as (url, process):
            before = process.memory_info().rss
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_peak(process, stop))
            try:
                outcome = await workload(url, args.format)
            finally:
                stop.set()
                peak = await sampler
            print(
                f"{name:<11} RSS before {before / 2**20:6.0f} MB  peak {peak / 2**20:6.0f} MB"
                f"  ({outcome})",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
