"""A replayed TTS stream keeps the recording's cadence, scaled by the time scale.

Times come from the journal (``time.monotonic()`` when each frame was recorded). A chunk is never
sent before its recorded time, so lower bounds are exact; upper bounds are generous because a
busy machine may send late.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from mock_soniox.fixtures.library import Library
from mock_soniox.fixtures.model import RecordedStream
from mock_soniox.fixtures.replay.events import EV_FIXTURE
from mock_soniox.journal import JournalEntry
from mock_soniox.testing.pytest_plugin import MockSoniox

KEY = {"Authorization": "Bearer test-key"}
MAYA = {
    "model": "tts-rt-v2",
    "language": "en",
    "voice": "Maya",
    "audio_format": "pcm_s16le",
    "sample_rate": 16000,
    "return_timestamps": True,
}
EARLY_S = 0.002  # float rounding between the loop's clock and the journal's
LATE_S = 0.25  # how late a busy machine may send


def maya_stream(ordinal: int) -> RecordedStream:
    fx = Library.load().get("tts-maya")
    assert fx is not None
    return fx.tts_streams()[ordinal - 1]


def recorded_chunks(stream: RecordedStream) -> list[tuple[float, int, int]]:
    """(t_ms, offset, bytes) of each recorded audio frame."""
    return [(f.t_ms, f.audio.offset, f.audio.bytes) for f in stream.frames if f.audio is not None]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def connect(
    http: aiohttp.ClientSession, mock_soniox: MockSoniox, **settings: Any
) -> aiohttp.ClientWebSocketResponse:
    """A TTS socket under ``settings`` (they apply to connections opened after them)."""
    if settings:
        mock_soniox.configure(**settings)
    return await http.ws_connect(mock_soniox.tts_url, headers=KEY)


async def send(ws: aiohttp.ClientWebSocketResponse, stream_id: str, **msg: Any) -> None:
    await ws.send_str(json.dumps({"stream_id": stream_id, **msg}))


async def until_terminated(
    ws: aiohttp.ClientWebSocketResponse, stream_id: str, *, chars_until: str | None = None
) -> str:
    """Read frames until ``stream_id`` terminates (or its characters reach ``chars_until``)."""
    chars = ""
    async with asyncio.timeout(10):
        while True:
            frame = json.loads((await ws.receive()).data)
            if frame.get("stream_id") != stream_id:
                continue
            assert "error_code" not in frame, frame
            chars += "".join(frame.get("timestamps", {}).get("characters", []))
            if frame.get("terminated") or (chars_until and chars.startswith(chars_until)):
                return chars


def audio_of(mock_soniox: MockSoniox, stream_id: str) -> list[JournalEntry]:
    frames = mock_soniox.journal.server_frames("audio", endpoint="tts")
    return [e for e in frames if e.stream_id == stream_id]


def assert_on_time(elapsed_s: float, due_s: float) -> None:
    assert due_s - EARLY_S <= elapsed_s <= due_s + LATE_S, (elapsed_s, due_s)


@pytest.mark.parametrize(("scale", "rate"), [(0.25, 16000), (0.5, 24000)])
async def test_replay_follows_the_recorded_cadence_scaled(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, scale: float, rate: int
) -> None:
    # The mock's own pacing would be far off: slow first audio, tiny chunks, no real-time pace.
    ws = await connect(
        http,
        mock_soniox,
        time_scale=scale,
        tts_time_to_first_audio_ms=2000,
        tts_chunk_ms=20,
        tts_realtime_factor=1000,
    )
    stream = maya_stream(1)
    assert stream.text_end_t_ms is not None
    await send(ws, "mine", **{**MAYA, "sample_rate": rate})
    await send(ws, "mine", text=stream.text, text_end=True)
    assert await until_terminated(ws, "mine") == stream.text

    (text_end,) = mock_soniox.journal.client_frames("text_end", endpoint="tts")
    sent = audio_of(mock_soniox, "mine")
    recorded = recorded_chunks(stream)
    # The recorded chunks (resampled), each at its recorded time after text_end, scaled.
    assert len(sent) == len(recorded)
    for entry, (t_ms, _, size) in zip(sent, recorded, strict=True):
        assert abs(entry.data["audio"]["bytes"] - size * rate // 16000) <= 4
        assert_on_time(entry.t - text_end.t, (t_ms - stream.text_end_t_ms) / 1000 * scale)
    assert sent[-1].data["audio_end"] is True
    (event,) = mock_soniox.journal.events(EV_FIXTURE)
    assert event.data["name"] == "tts-maya" and event.stream_id == "mine"


async def test_replay_at_time_scale_zero_sends_at_once(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    assert mock_soniox.settings.time_scale == 0
    stream = maya_stream(1)
    recorded = recorded_chunks(stream)
    span_s = (recorded[-1][0] - recorded[0][0]) / 1000
    ws = await connect(http, mock_soniox)
    await send(ws, "mine", **MAYA)
    await send(ws, "mine", text=stream.text, text_end=True)
    await until_terminated(ws, "mine")
    (text_end,) = mock_soniox.journal.client_frames("text_end", endpoint="tts")
    sent = audio_of(mock_soniox, "mine")
    assert [e.data["audio"]["bytes"] for e in sent] == [size for _, _, size in recorded]
    assert sent[-1].t - text_end.t < span_s / 2  # recorded: 0.85 s


async def test_text_later_than_recorded_shifts_the_cadence_without_a_burst(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    scale = 0.5
    ws = await connect(http, mock_soniox, time_scale=scale, tts_time_to_first_audio_ms=1000)
    stream = maya_stream(1)
    first, rest = "Hello! ", stream.text[len("Hello! ") :]
    await send(ws, "mine", **MAYA)
    await send(ws, "mine", text=first)
    await until_terminated(ws, "mine", chars_until=first)  # the first sentence, before text_end
    # Meanwhile the client speaks something else (synthetic, 0.5 s to first audio), so the
    # rest of the text comes much later than in the recording.
    await send(ws, "other", **MAYA)
    await send(ws, "other", text="Unrelated words.", text_end=True)
    await until_terminated(ws, "other")
    await send(ws, "mine", text=rest, text_end=True)
    assert await until_terminated(ws, "mine") == rest

    rest_entry = mock_soniox.journal.client_frames("text_end", endpoint="tts")[-1]
    assert rest_entry.stream_id == "mine"
    after = [e for e in audio_of(mock_soniox, "mine") if e.t >= rest_entry.t]
    recorded = recorded_chunks(stream)
    # The rest starts inside the recorded chunk that holds the "H" of "How", then goes on
    # chunk by chunk with the recorded spacing from the moment its text arrived.
    marks = [m for f in stream.frames for m in _timed_chars(f.json)]
    cut_s = next(start for char, start in marks if char == "H" and start > 0.1)
    split = max(i for i, (_, offset, _) in enumerate(recorded) if offset / 32000 <= cut_s)
    expected = recorded[split:]
    assert len(after) == len(expected)
    for entry, (t_ms, _, _) in zip(after, expected, strict=True):
        assert_on_time(entry.t - rest_entry.t, (t_ms - expected[0][0]) / 1000 * scale)


def _timed_chars(data: Any) -> list[tuple[str, float]]:
    marks = (data or {}).get("timestamps") or {}
    return list(
        zip(
            marks.get("characters", []), marks.get("character_start_times_seconds", []), strict=True
        )
    )


async def test_slow_fault_still_slows_a_replayed_stream(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    scale, rtf = 0.1, 3.0
    mock_soniox.faults.add(f"slow:rtf={rtf}")
    ws = await connect(http, mock_soniox, time_scale=scale)
    stream = maya_stream(1)
    assert stream.text_end_t_ms is not None
    await send(ws, "mine", **MAYA)
    await send(ws, "mine", text=stream.text, text_end=True)
    await until_terminated(ws, "mine")
    (text_end,) = mock_soniox.journal.client_frames("text_end", endpoint="tts")
    sent = audio_of(mock_soniox, "mine")
    recorded = recorded_chunks(stream)
    first_s = (recorded[0][0] - stream.text_end_t_ms) / 1000
    played_s = sum(e.data["audio"]["bytes"] for e in sent[:-1]) / 32000
    # Recorded: 0.85 s in all; slow: each chunk waits for the previous one at rtf x real time.
    assert sent[-1].t - text_end.t >= (first_s + played_s * rtf) * scale - EARLY_S
    assert mock_soniox.journal.faults_applied() == [f"slow:rtf={rtf}"]


async def test_cancel_stops_a_replayed_stream_at_once(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, mock_soniox, time_scale=1.0)  # 0.85 s of recorded cadence
    stream = maya_stream(1)
    await send(ws, "mine", **MAYA)
    await send(ws, "mine", text=stream.text, text_end=True)
    await until_terminated(ws, "mine", chars_until="H")
    await send(ws, "mine", cancel=True)
    await until_terminated(ws, "mine")
    (terminated,) = mock_soniox.journal.server_frames("terminated", endpoint="tts")
    sent = audio_of(mock_soniox, "mine")
    assert len(sent) < len(recorded_chunks(stream)) - 5
    assert all(e.t < terminated.t for e in sent)
    assert not any(e.data.get("audio_end") for e in sent)


async def test_synthetic_streams_keep_the_mocks_own_pacing(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    scale = 0.5
    ws = await connect(
        http, mock_soniox, time_scale=scale, tts_time_to_first_audio_ms=300, tts_chunk_ms=100
    )
    await send(ws, "mine", **MAYA)
    await send(ws, "mine", text="Nothing recorded says this.", text_end=True)
    await until_terminated(ws, "mine")
    (text_end,) = mock_soniox.journal.client_frames("text_end", endpoint="tts")
    sent = audio_of(mock_soniox, "mine")
    settings = mock_soniox.settings
    assert {e.data["audio"]["bytes"] for e in sent[:-1]} == {3200}  # 100 ms at 16 kHz
    due = 0.3 * scale
    for entry in sent:
        assert_on_time(entry.t - text_end.t, due)
        due += entry.data["audio"]["bytes"] / 32000 / settings.tts_realtime_factor * scale
    assert not mock_soniox.journal.events(EV_FIXTURE)
