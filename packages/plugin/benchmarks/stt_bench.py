"""STT plugin benchmark against the mock: CPU per hour of audio, final-result latency.

    uv run python packages/plugin/benchmarks/stt_bench.py [--streams 4] [--seconds 60] [--speed 10]

Streams speech-like audio through ``soniox.STT`` at ``--speed`` times real time to an in-process
mock (its own thread, no pacing) and prints:
- plugin CPU seconds per hour of audio (CPU time of the event-loop thread only, so the mock's
  work is not counted);
- the time from the mock sending a frame with ``<end>`` to the plugin's FINAL_TRANSCRIPT reaching
  the consumer (p50/p99), from the mock's journal and the consumer's clock (same process).
The script only uses the public plugin API, so it can also run against another install of
``livekit-plugins-soniox`` (e.g. the PyPI 1.8.9 in a separate venv) for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp
import numpy as np
from livekit import rtc
from livekit.agents import APIConnectOptions
from livekit.agents.stt import SpeechEventType
from livekit.plugins import soniox

from mock_soniox.server import ThreadedMockServer
from mock_soniox.settings import Settings

RATE = 16000
FRAME_MS = 20


def speech_frames(seconds: float) -> list[rtc.AudioFrame]:
    """Three 300 ms tone bursts then 1.2 s silence, repeated: an endpoint every ~2.6 s."""
    t = np.arange(RATE * 300 // 1000) / RATE
    word = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    gap = np.zeros(RATE * 160 // 1000, dtype=np.int16)
    pause = np.zeros(RATE * 1200 // 1000, dtype=np.int16)
    unit = np.concatenate([word, gap, word, gap, word, gap, pause])
    reps = int(seconds * RATE / len(unit)) + 1
    pcm = np.tile(unit, reps)[: int(seconds * RATE)]
    step = RATE * FRAME_MS // 1000
    return [
        rtc.AudioFrame(pcm[i : i + step].tobytes(), RATE, 1, step)
        for i in range(0, len(pcm) - step + 1, step)
    ]


async def one_stream(
    stt: soniox.STT, frames: list[rtc.AudioFrame], speed: float, finals_at: list[float]
) -> int:
    stream = stt.stream(conn_options=APIConnectOptions(max_retry=0, timeout=10.0))
    events = 0

    async def feed() -> None:
        interval = FRAME_MS / 1000 / speed
        start = time.perf_counter()
        for i, frame in enumerate(frames):
            stream.push_frame(frame)
            delay = start + (i + 1) * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        stream.end_input()

    feeder = asyncio.create_task(feed())
    try:
        async for ev in stream:
            events += 1
            if ev.type == SpeechEventType.FINAL_TRANSCRIPT:
                finals_at.append(time.monotonic())
    finally:
        await feeder
        await stream.aclose()
    return events


async def main(args: argparse.Namespace) -> None:
    server = ThreadedMockServer(Settings(port=0, time_scale=0.0, log_level="WARNING")).start()
    try:
        frames = speech_frames(args.seconds)
        async with aiohttp.ClientSession() as session:
            stt = soniox.STT(api_key="bench", base_url=server.mock.stt_url, http_session=session)
            finals_at: list[list[float]] = [[] for _ in range(args.streams)]
            wall0, cpu0 = time.perf_counter(), time.thread_time()
            counts = await asyncio.gather(
                *(one_stream(stt, frames, args.speed, finals_at[i]) for i in range(args.streams))
            )
            cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
        journal = server.mock.state.journal
        sent: dict[str, list[float]] = {}
        for entry in journal.server_frames(endpoint="stt"):
            tokens = entry.data.get("tokens") if isinstance(entry.data, dict) else None
            if tokens and any(t.get("text") == "<end>" for t in tokens):
                sent.setdefault(entry.conn_id, []).append(entry.t)
    finally:
        server.stop()

    audio_s = args.streams * len(frames) * FRAME_MS / 1000
    # Pair the n-th <end> frame of each connection with the n-th FINAL of some stream: both are
    # in order per connection; connections and streams are matched by their first times.
    conns = sorted(sent.values(), key=lambda ts: ts[0])
    streams = sorted((f for f in finals_at if f), key=lambda ts: ts[0])
    lags = [
        (got - at) * 1000
        for ends, finals in zip(conns, streams, strict=False)
        for at, got in zip(ends, finals, strict=False)
        if got >= at
    ]
    lags.sort()
    print(f"streams={args.streams} audio={audio_s:.0f}s speed={args.speed}x wall={wall:.1f}s")
    print(f"events consumed: {sum(counts)}")
    print(f"plugin CPU: {cpu:.2f}s -> {cpu / (audio_s / 3600):.1f} CPU-s per hour of audio")
    if lags:
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        print(
            f"<end> sent -> FINAL_TRANSCRIPT consumed: p50={statistics.median(lags):.2f} ms "
            f"p99={p99:.2f} ms (n={len(lags)})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--speed", type=float, default=10.0)
    asyncio.run(main(parser.parse_args()))
