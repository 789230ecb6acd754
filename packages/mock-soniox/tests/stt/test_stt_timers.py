"""STT timers and the session cap, time-scaled so a 20 s timer takes 20 ms."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.stt import BASIC_CONFIG, connect, pcm16, read_all, run_session, speech

SCALE = 0.001
# Scaled to 5 s, so a slow CI machine never misses the config deadline by accident.
SLOW_CONFIG = 5000.0


async def test_idle_session_gets_408_and_close(mock_soniox: MockSoniox) -> None:
    # 20 s idle timeout -> 20 ms
    mock_soniox.configure(time_scale=SCALE, stt_config_timeout_s=SLOW_CONFIG)
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, mock_soniox.stt_url)
        await ws.send_str(json.dumps(BASIC_CONFIG))
        out = await read_all(ws)
    assert [f["error_code"] for f in out.frames] == [408]
    assert out.frames[0]["error_type"] == "request_timeout"
    assert out.frames[0]["error_message"] == "Timed out while waiting for the first audio chunk"
    assert out.close_code == 1000


async def test_missing_config_gets_408(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(time_scale=SCALE)  # 10 s config timeout -> 10 ms
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, mock_soniox.stt_url)
        out = await read_all(ws)
    assert [f["error_code"] for f in out.frames] == [408]


async def test_keepalive_and_audio_reset_the_idle_timer(mock_soniox: MockSoniox) -> None:
    # 200 ms idle timeout; the client stays active for about three times as long.
    mock_soniox.configure(
        time_scale=SCALE,
        stt_idle_timeout_s=200.0,
        stt_config_timeout_s=SLOW_CONFIG,
        stt_first_audio_timeout_s=SLOW_CONFIG,
        stt_input_too_slow_margin_s=SLOW_CONFIG,
    )
    audio = pcm16(speech(("tone", 120)))
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, mock_soniox.stt_url)
        await ws.send_str(json.dumps(BASIC_CONFIG))
        started = time.monotonic()
        for i in range(12):
            await asyncio.sleep(0.05)  # client pacing, well inside the timeout
            if i % 2:
                await ws.send_str('{"type": "keepalive"}')
            else:
                await ws.send_bytes(audio)
        assert time.monotonic() - started > 0.4
        await ws.send_str("")
        out = await read_all(ws)
    assert not out.errors
    assert out.frames[-1]["finished"] is True


async def test_finalize_does_not_count_as_activity(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(
        time_scale=SCALE, stt_idle_timeout_s=100.0, stt_config_timeout_s=SLOW_CONFIG
    )
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, mock_soniox.stt_url)
        await ws.send_str(json.dumps(BASIC_CONFIG))
        await ws.send_str('{"type": "finalize"}')
        out = await read_all(ws)
    assert out.frames[0]["tokens"] == [{"text": "<fin>", "is_final": True}]
    assert out.frames[-1]["error_code"] == 408


async def test_session_cap_finalizes_then_errors(mock_soniox: MockSoniox) -> None:
    # Timers keep their real length at time_scale 0: a 1 s cap of audio time.
    mock_soniox.configure(stt_max_session_s=1.0)
    audio = pcm16(speech(("tone", 1500)))
    async with aiohttp.ClientSession() as http:
        out = await run_session(
            http, mock_soniox.stt_url, BASIC_CONFIG, audio, chunk_bytes=len(audio), controls=()
        )
    error = out.frames[-1]
    assert (error["error_code"], error["error_type"]) == (400, "max_duration_reached")
    assert out.close_code == 1000
    results = out.results
    assert results[-1]["total_audio_proc_ms"] == 1000
    assert results[-1]["final_audio_proc_ms"] == 1000
    assert all(t["is_final"] for t in results[-1]["tokens"])
    assert max(t["end_ms"] for t in out.finals if "end_ms" in t) <= 1000


@pytest.mark.mock_only(reason="the time scale")
async def test_session_cap_scales_with_time(mock_soniox: MockSoniox) -> None:
    # 300 minutes at time_scale 0.0001 -> 1.8 s of audio.
    mock_soniox.configure(
        time_scale=0.0001, stt_config_timeout_s=50_000.0, stt_idle_timeout_s=50_000.0
    )
    audio = pcm16(speech(("silence", 2000)))
    async with aiohttp.ClientSession() as http:
        out = await run_session(
            http, mock_soniox.stt_url, BASIC_CONFIG, audio, chunk_bytes=len(audio), controls=()
        )
    assert out.frames[-1]["error_type"] == "max_duration_reached"
    assert out.results[-1]["total_audio_proc_ms"] == 1800
