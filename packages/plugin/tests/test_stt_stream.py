"""Streaming STT end to end against the mock's STT endpoint."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, APIStatusError
from livekit.agents.metrics import STTMetrics
from livekit.agents.stt import SpeechEvent, SpeechEventType
from livekit.agents.types import TimedString
from livekit.plugins import soniox
from syrupy.assertion import SnapshotAssertion

from mock_soniox.testing.pytest_plugin import MockSoniox

from .conftest import frames_duration, other_tasks, speech_like_audio, wait_journal

E = SpeechEventType
FAST_RETRY = APIConnectOptions(max_retry=3, retry_interval=0.05, timeout=5.0)
KEY = "secret-test-key-123"


def make_stt(
    mock: MockSoniox, session: aiohttp.ClientSession, *, url: str | None = None, **opts: Any
) -> soniox.STT:
    return soniox.STT(
        api_key=KEY,
        base_url=url or mock.stt_url,
        http_session=session,
        params=soniox.STTOptions(**opts),
    )


async def run_stream(
    stt: soniox.STT, frames: list[rtc.AudioFrame], conn_options: APIConnectOptions = FAST_RETRY
) -> list[SpeechEvent]:
    async with stt.stream(conn_options=conn_options) as stream:
        for frame in frames:
            stream.push_frame(frame)
        stream.end_input()
        return [ev async for ev in stream]


def _start(word: TimedString) -> float:
    assert isinstance(word.start_time, float)
    return word.start_time


def normalise(events: list[SpeechEvent]) -> list[dict[str, Any]]:
    """Events without wall-clock and random ids, times rounded: stable for snapshots."""
    out: list[dict[str, Any]] = []
    for ev in events:
        item: dict[str, Any] = {"type": ev.type.value}
        if ev.alternatives:
            alt = ev.alternatives[0]
            item.update(
                text=alt.text,
                language=str(alt.language),
                start=round(alt.start_time, 2),
                end=round(alt.end_time, 2),
                speaker=alt.speaker_id,
                words=[(str(w), round(_start(w), 2)) for w in alt.words or []],
            )
        if ev.recognition_usage:
            item["audio_s"] = round(ev.recognition_usage.audio_duration, 2)
            item["output_tokens"] = ev.recognition_usage.output_tokens
        out.append(item)
    return out


def finals(events: list[SpeechEvent]) -> list[Any]:
    return [e.alternatives[0] for e in events if e.type == E.FINAL_TRANSCRIPT]


def all_words(events: list[SpeechEvent]) -> list[tuple[str, float]]:
    return [(str(w), _start(w)) for f in finals(events) for w in f.words or []]


def usage_total(events: list[SpeechEvent]) -> float:
    return sum(e.recognition_usage.audio_duration for e in events if e.recognition_usage)


async def test_end_input_delivers_everything_and_ends_the_stream(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession, snapshot: SnapshotAssertion
) -> None:
    stt = make_stt(mock_soniox, http_session)
    metrics: list[STTMetrics] = []
    stt.on("metrics_collected", metrics.append)
    frames = speech_like_audio(utterances=2)
    events = await asyncio.wait_for(run_stream(stt, frames), 10)
    kinds = [e.type for e in events]
    assert kinds.count(E.FINAL_TRANSCRIPT) == 2
    assert kinds.count(E.START_OF_SPEECH) == kinds.count(E.END_OF_SPEECH) == 2
    assert kinds[-1] == E.RECOGNITION_USAGE
    # Usage comes at endpoints and at the end, not once per server message.
    assert kinds.count(E.RECOGNITION_USAGE) <= 3
    assert len(mock_soniox.journal.client_frames("finish")) == 1
    assert usage_total(events) == pytest.approx(frames_duration(frames), abs=0.02)
    assert sum(m.audio_duration for m in metrics) == pytest.approx(usage_total(events))
    assert not other_tasks()
    assert normalise(events) == snapshot


async def test_flush_finalizes_pending_speech_promptly(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession
) -> None:
    stt = make_stt(mock_soniox, http_session, max_endpoint_delay_ms=3000)
    frames = speech_like_audio(utterances=1, pause_ms=100)
    async with stt.stream(conn_options=FAST_RETRY) as stream:
        for frame in frames:
            stream.push_frame(frame)
        stream.flush()
        got: list[SpeechEvent] = []
        async with asyncio.timeout(5):
            async for ev in stream:
                got.append(ev)
                if ev.type == E.END_OF_SPEECH:
                    break
        assert [e.type for e in got if e.type in (E.FINAL_TRANSCRIPT, E.END_OF_SPEECH)] == [
            E.FINAL_TRANSCRIPT,
            E.END_OF_SPEECH,
        ]
        assert len(finals(got)[0].words or []) == 3
    assert len(mock_soniox.journal.client_frames("finalize")) == 1
    assert not mock_soniox.journal.client_frames("finish")  # aclose(): no end-of-audio
    assert not other_tasks()


async def test_keepalive_while_no_audio_flows(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession
) -> None:
    stt = make_stt(mock_soniox, http_session)
    stt._keepalive_s = 0.05
    async with stt.stream(conn_options=FAST_RETRY):
        entry = await wait_journal(mock_soniox.journal, lambda e: e.kind == "keepalive")
    assert entry.data == {"type": "keepalive"}
    assert not other_tasks()


@pytest.mark.parametrize(
    ("rate", "channels"), [(48000, 2), (8000, 1), (16000, 2)], ids=["48k-stereo", "8k", "stereo"]
)
async def test_other_rates_and_channels_are_converted(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession, rate: int, channels: int
) -> None:
    stt = make_stt(mock_soniox, http_session)
    frames = speech_like_audio(utterances=1, sample_rate=rate, channels=channels)
    events = await asyncio.wait_for(run_stream(stt, frames), 10)
    config = mock_soniox.journal.client_frames("config")[0].data
    assert (config["sample_rate"], config["num_channels"]) == (16000, 1)
    sent = sum(e.data["bytes"] for e in mock_soniox.journal.client_frames("audio"))
    assert sent / 32000 == pytest.approx(frames_duration(frames), abs=0.02)
    assert len(finals(events)) == 1 and len(finals(events)[0].words or []) == 3


async def test_recognize_over_the_websocket(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession
) -> None:
    stt = make_stt(mock_soniox, http_session)
    metrics: list[STTMetrics] = []
    stt.on("metrics_collected", metrics.append)
    frames = speech_like_audio(utterances=2)
    event = await asyncio.wait_for(stt.recognize(frames), 10)
    assert event.type == E.FINAL_TRANSCRIPT
    assert len(event.alternatives[0].words or []) == 6
    assert event.alternatives[0].text
    audio = sum(m.audio_duration for m in metrics)
    assert audio == pytest.approx(frames_duration(frames), abs=0.02)


@pytest.mark.parametrize("after_frames", [0, 1, 5, 40])
async def test_aclose_at_any_moment_leaves_nothing_behind(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession, after_frames: int
) -> None:
    stt = make_stt(mock_soniox, http_session)
    stream = stt.stream(conn_options=FAST_RETRY)
    for frame in speech_like_audio(utterances=1)[:after_frames]:
        stream.push_frame(frame)
    if after_frames:
        await wait_journal(mock_soniox.journal, lambda e: e.kind == "audio" or e.kind == "config")
    await stream.aclose()
    assert not other_tasks()
    if mock_soniox.journal.select(kind="open"):  # the server side lets go of it too
        await wait_journal(mock_soniox.journal, lambda e: e.kind == "closed")


CONFIG_CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "diarization-hints-context": {
        "model": "stt-rt-v5",
        "language_hints": ["en", "de"],
        "language_hints_strict": True,
        "enable_speaker_diarization": True,
        "context": soniox.ContextObject(
            general=[soniox.ContextGeneralItem("domain", "support")], terms=["Soniox"]
        ),
        "endpoint_sensitivity": 0.3,
        "endpoint_latency_adjustment_level": 1,
        "max_endpoint_delay_ms": 1200,
    },
    "translation-two-way": {
        "translation": soniox.TranslationConfig("two_way", language_a="en", language_b="es"),
        "client_reference_id": "ref-42",
    },
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
async def test_config_frame_on_the_wire(
    mock_soniox: MockSoniox,
    http_session: aiohttp.ClientSession,
    snapshot: SnapshotAssertion,
    case: str,
) -> None:
    stt = make_stt(mock_soniox, http_session, **CONFIG_CASES[case])
    await asyncio.wait_for(run_stream(stt, speech_like_audio(utterances=1)), 10)
    config = mock_soniox.journal.client_frames("config")[0].data
    assert config == stt.config_message()
    assert KEY not in str(config)
    assert config == snapshot


async def test_api_key_never_logged(
    mock_soniox: MockSoniox,
    http_session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mock_soniox.configure(api_keys=("other-key",))
    stt = make_stt(mock_soniox, http_session)
    errors: list[Any] = []
    stt.on("error", errors.append)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(APIStatusError) as info:
        await asyncio.wait_for(run_stream(stt, speech_like_audio(utterances=1)), 10)
    assert info.value.status_code == 401
    assert info.value.retryable is False
    assert "Invalid API key." in str(info.value)
    assert len(mock_soniox.journal.select(kind="open")) == 1  # not retried
    assert KEY not in caplog.text
    assert KEY not in str(info.value) and KEY not in repr(info.value.body)
    assert [e.recoverable for e in errors] == [False]


async def test_start_time_offset_shifts_every_timestamp(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession
) -> None:
    stt = make_stt(mock_soniox, http_session)
    async with stt.stream(conn_options=FAST_RETRY) as stream:
        stream.start_time_offset = 10.0
        for frame in speech_like_audio(utterances=1):
            stream.push_frame(frame)
        stream.end_input()
        events = [ev async for ev in stream]
    final = finals(events)[0]
    assert 10.0 < final.start_time < final.end_time < 10.0 + 3.0
    assert all(w.start_time_offset == 10.0 for w in final.words or [])
    assert stream.start_time_offset == 10.0
