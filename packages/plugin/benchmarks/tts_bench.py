"""TTS benchmark: time to first audio and CPU per stream, plugin vs a raw-protocol client.

Starts the mock in its own process (so the numbers below are the client's alone), then runs the
same workload twice: N concurrent streams through one ``soniox.TTS`` (the pool), and N streams
from a bare aiohttp client that multiplexes 5 streams per websocket as the protocol allows.
Time to first audio is push_text -> first audio frame (plugin) or text sent -> first audio
message (raw); the mock adds its configured time-to-first-audio (150 ms by default) to both.
The raw client decodes every message's base64 audio, as any client of the real service must
(it used to skip that, which flattered it by about 15 us per 100 ms message). Before each
measured window both collect and freeze the objects alive so far (imports, the pool, the
sockets), as livekit's job processes do with what their forkserver preloaded: otherwise a full
collection of ~170k setup objects (about 150 ms here) lands in some rounds and not others.

    uv run python packages/plugin/benchmarks/tts_bench.py [--streams 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import binascii
import contextlib
import gc
import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import aiohttp
from livekit.plugins import soniox

TEXT = "Hello there, this is a benchmark sentence. And here is a second one to follow it."


@contextlib.contextmanager
def mock_process() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_soniox", "serve", "--port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            match = re.search(r"(ws://\S+/tts-websocket)", line)
            if match:
                yield match.group(1)
                return
        raise RuntimeError("the mock did not print its TTS URL")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def settle_gc() -> None:
    """Collect, then keep everything alive now out of later collections (see the docstring)."""
    gc.collect()
    gc.freeze()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def plugin_round(url: str, n: int) -> tuple[list[float], float]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        return await _plugin_round(url, n, session)


async def _plugin_round(
    url: str, n: int, session: aiohttp.ClientSession
) -> tuple[list[float], float]:
    # A session without a connector limit, as the plugin README advises for many streams.
    tts = soniox.TTS(api_key="bench", websocket_url=url, http_session=session)
    tts.prewarm()

    async def one() -> float:
        async with tts.stream() as stream:
            started = time.perf_counter()
            stream.push_text(TEXT)
            stream.end_input()
            first = 0.0
            async for _ in stream:
                if not first:
                    first = time.perf_counter() - started
            return first

    # A first, unmeasured burst grows the pool to n/5 connections, as the raw client opens its
    # sockets before measuring: the comparison is then the plugin's own overhead per stream.
    await asyncio.gather(*(one() for _ in range(n)))
    settle_gc()
    cpu = time.process_time()
    ttfa = await asyncio.gather(*(one() for _ in range(n)))
    cpu = time.process_time() - cpu
    await tts.aclose()
    return list(ttfa), cpu


async def raw_round(url: str, n: int) -> tuple[list[float], float]:
    config = {
        "model": "tts-rt-v1-preview",
        "language": "en",
        "voice": "Maya",
        "audio_format": "pcm_s16le",
        "sample_rate": 24000,
    }
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets = await asyncio.gather(
            *(
                session.ws_connect(url, headers={"Authorization": "Bearer bench"})
                for _ in range((n + 4) // 5)
            )
        )
        settle_gc()
        cpu = time.process_time()

        async def connection(ws: aiohttp.ClientWebSocketResponse, ids: list[str]) -> list[float]:
            sent: dict[str, float] = {}
            first: dict[str, float] = {}
            for sid in ids:
                await ws.send_str(json.dumps({**config, "stream_id": sid}))
                sent[sid] = time.perf_counter()
                await ws.send_str(json.dumps({"stream_id": sid, "text": TEXT}))
                await ws.send_str(json.dumps({"stream_id": sid, "text_end": True}))
            done = 0
            while done < len(ids):
                msg = json.loads((await ws.receive()).data)
                sid = msg["stream_id"]
                if "audio" in msg:
                    binascii.a2b_base64(msg["audio"])  # the audio itself, as a player needs it
                    if sid not in first:
                        first[sid] = time.perf_counter() - sent[sid]
                if msg.get("terminated"):
                    done += 1
            await ws.close()
            return list(first.values())

        groups = [[f"s{i}" for i in range(k * 5, min(n, k * 5 + 5))] for k in range(len(sockets))]
        results = await asyncio.gather(
            *(connection(ws, g) for ws, g in zip(sockets, groups, strict=True))
        )
        cpu = time.process_time() - cpu
    return [v for r in results for v in r], cpu


def report(name: str, ttfa: list[float], cpu: float, n: int) -> None:
    print(
        f"{name:>7}: ttfa p50 {1000 * statistics.median(ttfa):7.1f} ms   "
        f"p95 {1000 * pct(ttfa, 0.95):7.1f} ms   cpu/stream {1000 * cpu / n:6.2f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with mock_process() as url:
        print(f"mock at {url}; {args.streams} concurrent streams, {args.rounds} rounds each")
        for _ in range(args.rounds):
            ttfa, cpu = await raw_round(url, args.streams)
            report("raw", ttfa, cpu, args.streams)
            ttfa, cpu = await plugin_round(url, args.streams)
            report("plugin", ttfa, cpu, args.streams)


if __name__ == "__main__":
    asyncio.run(main())
