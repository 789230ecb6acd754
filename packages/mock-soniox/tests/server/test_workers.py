"""`mock-soniox serve --workers N`: N processes on one port, started, watched, stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp

from mock_soniox.testing.common import BEARER
from mock_soniox.testing.stt import RATE, pcm16, run_session, tone
from mock_soniox.testing.tts import TtsClient

SERVE = (sys.executable, "-m", "mock_soniox", "serve", "--port", "0")
STT_CONFIG = {
    "model": "stt-rt-v4",
    "audio_format": "pcm_s16le",
    "sample_rate": RATE,
    "num_channels": 1,
}


@contextlib.asynccontextmanager
async def workers(
    *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, str], set[int]]]:
    """``serve`` with workers in a subprocess: it, its printed URLs and its workers' pids."""
    proc = await asyncio.create_subprocess_exec(
        *SERVE,
        *args,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "MOCK_SONIOX_TIME_SCALE": "0", **(env or {})},
    )
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    try:
        async with asyncio.timeout(60):
            while "WORKERS" not in urls:
                line = (await proc.stdout.readline()).decode()
                assert line, "serve exited before printing its URLs"
                label, _, rest = line.partition(" ")
                urls[label] = rest.strip()
        pids = {int(pid) for pid in urls["WORKERS"].split("pids")[1].split()}
        yield proc, urls, pids
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def worker_header_tracer() -> tuple[aiohttp.TraceConfig, list[int]]:
    """A trace config noting the ``X-Mock-Worker`` of every response (upgrades included)."""
    seen: list[int] = []

    async def on_end(
        session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        seen.append(int(params.response.headers["X-Mock-Worker"]))

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    return trace, seen


async def tts_stream(http: aiohttp.ClientSession, url: str) -> None:
    async with http.ws_connect(url, headers=BEARER) as ws:
        client = TtsClient(ws)
        await client.start("s1", text="Hello there.")
        frames = await client.until_terminated("s1")
        assert any(frame.get("audio_end") for frame in frames)


async def test_workers_share_one_port_serve_both_endpoints_and_stop_together() -> None:
    trace, seen = worker_header_tracer()
    async with (
        workers("--workers", "2") as (proc, urls, pids),
        # force_close: a new TCP connection per request, for the kernel to place anew
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True), trace_configs=[trace]
        ) as http,
    ):
        assert len(pids) == 2
        port = urls["TTS"].split(":")[2].split("/")[0]
        assert port != "0"
        served: dict[str, set[int]] = {"tts": set(), "stt": set()}
        audio = pcm16(tone(600))
        for _ in range(64):  # sessions until both workers have served both endpoints
            await tts_stream(http, urls["TTS"])
            served["tts"].add(seen[-1])
            transcript = await run_session(http, urls["STT"], STT_CONFIG, audio)
            assert transcript.frames[-1].get("finished") is True
            served["stt"].add(seen[-1])
            if served == {"tts": pids, "stt": pids}:
                break
        assert served == {"tts": pids, "stt": pids}

        async with http.get(urls["HTTP"].replace("healthz", "readyz")) as resp:
            body = await resp.json()
        assert body["pid"] in pids and body["workers"] == 2
        # Each worker has its own state: a change through the admin API is refused, saying so.
        async with http.post(
            urls["HTTP"].replace("healthz", "__admin/faults"), json={"spec": "drop"}
        ) as resp:
            assert resp.status == 409
            assert "2 worker processes" in (await resp.json())["error"]

        live = await http.ws_connect(urls["TTS"], headers=BEARER)
        await live.send_str(json.dumps({"keep_alive": True}))
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            msg = await live.receive()
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1001)
            assert await proc.wait() == 0
        assert not any(alive(pid) for pid in pids)


async def test_a_worker_that_dies_stops_the_others_and_the_exit_status_says_so() -> None:
    async with workers(env={"MOCK_SONIOX_WORKERS": "2"}) as (proc, _, pids):
        victim, other = sorted(pids)
        os.kill(victim, signal.SIGKILL)
        async with asyncio.timeout(15):
            assert await proc.wait() == 1
        assert not alive(other)


async def test_bad_worker_counts_and_recording_with_workers_are_refused() -> None:
    for args in (("--workers", "0"), ("--record", "once", "--fixtures", ".", "--workers", "2")):
        proc = await asyncio.create_subprocess_exec(*SERVE, *args, stderr=asyncio.subprocess.PIPE)
        async with asyncio.timeout(30):
            _, err = await proc.communicate()
        assert proc.returncode == 2
        assert b"workers" in err
