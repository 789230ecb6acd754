"""TTS conformance: error shapes (no tokens; stream_id on stream errors), CJK sentences, and the
opt-in per-key concurrency limits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.target import Target

KEY = {"Authorization": "Bearer test-key"}


def stream_config(stream_id: str, **fields: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"stream_id": stream_id, "model": "tts-rt-v1-preview"}
    config["language"] = "en"
    config |= {"voice": "Synthetic-Test", "audio_format": "pcm_s16le", "sample_rate": 24000}
    return {**config, **fields}


async def frames_until(
    ws: aiohttp.ClientWebSocketResponse, stop: Any, wait_s: float = 10.0
) -> list[dict[str, Any]]:
    """Frames (audio payloads dropped) until ``stop(frame)`` or the server closes."""
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(wait_s):
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                return out
            frame = json.loads(msg.data)
            out.append({k: v for k, v in frame.items() if k != "audio"})
            if stop(frame):
                return out


def terminated(stream_id: str) -> Any:
    return lambda f: f.get("stream_id") == stream_id and f.get("terminated")


async def test_stream_error_shape_then_terminated(soniox_target: Target) -> None:
    async with soniox_target.session() as http:
        ws = await http.ws_connect(soniox_target.tts_url, headers=soniox_target.headers)
        await ws.send_str(json.dumps(stream_config("s1", model=None)))
        frames = await frames_until(ws, terminated("s1"))
        await ws.close()
    error, end = frames
    assert list(error) == [
        "stream_id",
        "error_code",
        "error_type",
        "error_message",
        "more_info",
        "request_id",
    ]
    assert (error["error_code"], error["error_message"]) == (400, "Missing required field: model")
    assert end == {"stream_id": "s1", "terminated": True}


async def test_connection_error_has_no_stream_id_and_closes(
    soniox_target: Target, mock_behind_target: MockSoniox | None
) -> None:
    if mock_behind_target is not None:  # the live service knows its keys already
        mock_behind_target.configure(api_keys=("good",))
    async with soniox_target.session() as http:
        ws = await http.ws_connect(soniox_target.tts_url, headers={"Authorization": "Bearer bad"})
        frames = await frames_until(ws, lambda f: False)
    [error] = frames
    assert "stream_id" not in error and "tokens" not in error
    assert (error["error_code"], error["error_message"]) == (401, "Incorrect API key provided.")
    assert ws.close_code == 1000


async def test_cjk_sentences_are_spoken_before_text_end(soniox_target: Target) -> None:
    async with soniox_target.session() as http:
        ws = await http.ws_connect(soniox_target.tts_url, headers=soniox_target.headers)
        await ws.send_str(json.dumps(stream_config("zh", language="zh")))
        await ws.send_str(json.dumps({"stream_id": "zh", "text": "你好。今天天气怎么样"}))
        first = await frames_until(ws, lambda f: "audio" in f)
        assert first[-1]["stream_id"] == "zh" and first[-1]["audio_end"] is False
        await ws.send_str(json.dumps({"stream_id": "zh", "text_end": True}))
        rest = await frames_until(ws, terminated("zh"))
        await ws.close()
    assert rest[-2]["audio_end"] is True


@pytest.mark.mock_only(reason="per-key limits are mock settings")
async def test_per_key_connection_limit_is_opt_in(mock_soniox: MockSoniox) -> None:
    async with aiohttp.ClientSession() as http:
        # Off by default: many connections on one key.
        open_ones = [await http.ws_connect(mock_soniox.tts_url, headers=KEY) for _ in range(4)]
        for ws in open_ones:
            await ws.close()
        mock_soniox.configure(tts_max_connections_per_key=1)
        first = await http.ws_connect(mock_soniox.tts_url, headers=KEY)
        await first.send_str(json.dumps({"keep_alive": True}))
        await asyncio.sleep(0.1)
        second = await http.ws_connect(mock_soniox.tts_url, headers=KEY)
        [error] = await frames_until(second, lambda f: False)
        other = await http.ws_connect(mock_soniox.tts_url, headers={"Authorization": "Bearer b"})
        await other.send_str(json.dumps(stream_config("o1")))
        await other.send_str(json.dumps({"stream_id": "o1", "text": "Hi.", "text_end": True}))
        assert (await frames_until(other, terminated("o1")))[-2]["audio_end"] is True
        await first.close()
        await other.close()
    assert (error["error_code"], error["error_type"]) == (429, "limit_exceeded")
    assert "stream_id" not in error and second.close_code == 1000


@pytest.mark.mock_only(reason="per-key limits are mock settings")
async def test_per_key_stream_limit_counts_across_connections(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(tts_max_streams_per_key=1)
    async with aiohttp.ClientSession() as http:
        a = await http.ws_connect(mock_soniox.tts_url, headers=KEY)
        b = await http.ws_connect(mock_soniox.tts_url, headers=KEY)
        await a.send_str(json.dumps(stream_config("a1")))  # open, no text yet: it stays live
        await asyncio.sleep(0.1)
        await b.send_str(json.dumps(stream_config("b1")))
        refused = await frames_until(b, terminated("b1"))
        await a.send_str(json.dumps({"stream_id": "a1", "text": "Hi.", "text_end": True}))
        await frames_until(a, terminated("a1"))
        # The slot is free again once a1 terminated.
        await b.send_str(json.dumps(stream_config("b2")))
        await b.send_str(json.dumps({"stream_id": "b2", "text": "Hi.", "text_end": True}))
        admitted = await frames_until(b, terminated("b2"))
        await a.close()
        await b.close()
    assert (refused[0]["error_code"], refused[0]["stream_id"]) == (429, "b1")
    assert admitted[-2]["audio_end"] is True
