"""TTS load benchmark (a script, not a test): the mock against a bare aiohttp server sending the
same frames, 40 connections x 5 streams each, one after the other in one run.

Every stream slot loops: config, one sentence, text_end, audio until ``terminated``, again. The
mock runs at ``time_scale=1`` (real pacing: first audio after ``tts_time_to_first_audio_ms``, then
audio at ``tts_realtime_factor`` x real time). Then ``bare_tts.py`` (a bare aiohttp server sending
frames of the same size at the same pace, nothing else) serves the same client. Prints, for each:
time-to-first-audio percentiles (from text_end sent to first audio received), streams completed,
server CPU per stream and per audio frame; then the ratio of the two per-frame costs.

    uv run python packages/mock-soniox/benchmarks/tts_bench.py [--conns 40] [--seconds 20]
    uv run python packages/mock-soniox/benchmarks/tts_bench.py --workers 2 --no-bare
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
async def server_process(cmd: list[str], env: dict[str, str]) -> AsyncIterator[tuple[str, int]]:
    """A server in its own process that prints ``TTS <url>``; yields (TTS URL, pid)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)  # noqa: ASYNC220
    try:
        assert proc.stdout is not None
        url = ""
        while not url:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
            if not line:
                raise RuntimeError(f"{cmd} exited before printing its URLs")
            if line.startswith("TTS"):
                url = line.split()[-1]
        yield url, proc.pid
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)


def mock_process(
    journal: bool, workers: int
) -> contextlib.AbstractAsyncContextManager[tuple[str, int]]:
    """``mock-soniox serve`` (time scale 1) in its own process."""
    env = {
        **os.environ,
        "MOCK_SONIOX_JOURNAL_ENABLED": "1" if journal else "0",
        "MOCK_SONIOX_LOG_LEVEL": "WARNING",
    }
    cmd = [sys.executable, "-m", "mock_soniox", "serve", "--port", "0", "--time-scale", "1"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    return server_process(cmd, env)


def bare_process() -> contextlib.AbstractAsyncContextManager[tuple[str, int]]:
    """``bare_tts.py``: the same frames at the same pace from a bare aiohttp server."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bare_tts.py")
    return server_process([sys.executable, "-u", script], dict(os.environ))


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


@dataclass
class Result:
    elapsed: float
    stats: Stats
    server_cpu: float  # cores (1.0 = one core busy), the server and its children
    client_cpu: float

    @property
    def concurrent(self) -> float:
        samples = self.stats.active_samples
        return float(np.mean(samples)) if samples else 0.0

    @property
    def frames_per_s(self) -> float:
        return self.stats.frames / self.elapsed

    @property
    def us_per_frame(self) -> float:
        return self.server_cpu * 1e6 / max(self.frames_per_s, 1e-9)


def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU of ``proc`` and its live children (the mock's workers)."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = p.cpu_times()
            total += times.user + times.system
    return total


async def measure(url: str, pid: int, args: argparse.Namespace) -> Result:
    stats = Stats()
    stop = asyncio.Event()
    server = psutil.Process(pid)
    client = psutil.Process()
    tasks = [
        asyncio.create_task(connection(url, i, args.streams, args.stagger, stats, stop))
        for i in range(args.conns)
    ]
    sampler = asyncio.create_task(sample_active(stats, stop))
    try:
        await asyncio.sleep(args.warmup)
        cpu0, client0, t0 = cpu_seconds(server), client.cpu_times(), time.perf_counter()
        stats.measuring = True
        await asyncio.sleep(args.seconds)
        stats.measuring = False
        cpu1, client1, t1 = cpu_seconds(server), client.cpu_times(), time.perf_counter()
    finally:
        stop.set()
        await asyncio.gather(*tasks, sampler)
    elapsed = t1 - t0
    client_cpu = client1.user + client1.system - client0.user - client0.system
    return Result(elapsed, stats, (cpu1 - cpu0) / elapsed, client_cpu / elapsed)


def report(name: str, result: Result) -> None:
    stats = result.stats
    print(f"{name}: {result.elapsed:.0f} s measured")
    print(
        f"  concurrent streams  mean {result.concurrent:.0f},"
        f" min {min(stats.active_samples, default=0)}"
    )
    print(
        f"  time to first audio (configured 150 ms): p50 {pct(stats.ttfa_ms, 50):.1f} ms,"
        f" p99 {pct(stats.ttfa_ms, 99):.1f} ms, max {max(stats.ttfa_ms, default=0):.1f} ms"
        f" ({len(stats.ttfa_ms)} streams)"
    )
    print(
        f"  streams completed   {stats.streams_done / result.elapsed:.1f}/s, errors {stats.errors}"
    )
    print(
        f"  server CPU          {result.server_cpu * 100:.0f}% of a core,"
        f" {result.server_cpu * 100 / max(result.concurrent, 1):.3f}% per stream"
        f" (client process {result.client_cpu * 100:.0f}%)"
    )
    print(
        f"  audio frames        {result.frames_per_s:,.0f} frames/s (~6.5 KB each),"
        f" {result.us_per_frame:.1f} us of server CPU per frame"
    )


async def run(args: argparse.Namespace) -> None:
    print(
        f"TTS: {args.conns} connections x {args.streams} streams, mock workers {args.workers},"
        f" journal {'on' if args.journal else 'off'}"
    )
    async with mock_process(args.journal, args.workers) as (url, pid):
        mock = await measure(url, pid, args)
    report("mock-soniox", mock)
    if args.no_bare:
        return
    async with bare_process() as (url, pid):
        bare = await measure(url, pid, args)
    report("bare aiohttp sending the same frames", bare)
    print(
        f"per-frame cost: mock {mock.us_per_frame:.1f} us, bare {bare.us_per_frame:.1f} us,"
        f" ratio {mock.us_per_frame / max(bare.us_per_frame, 1e-9):.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conns", type=int, default=40)
    parser.add_argument("--streams", type=int, default=5, help="streams per connection")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--stagger", type=float, default=1.0, help="spread of stream starts, s")
    parser.add_argument("--journal", action="store_true", help="keep the journal on in the mock")
    parser.add_argument("--workers", type=int, default=1, help="mock-soniox serve --workers N")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare aiohttp server's run")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
