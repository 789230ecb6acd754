"""The TTS against the mock: streams, formats, timestamps, shared connections, cancel, metrics."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from livekit.agents import metrics
from syrupy.assertion import SnapshotAssertion
from tests.tts_helpers import (
    FAST,
    collect,
    connections,
    count,
    expected_ms,
    make_tts,
    max_concurrent_streams,
    sent_frames,
    speak,
    stream_errors,
    tts_entries,
    watch,
    words_of,
)

from mock_soniox.testing.pytest_plugin import MockSoniox

TEXT = "Hello there. How are you today? I am fine, thanks."


async def test_stream_speaks_every_sentence_once(
    mock_soniox: MockSoniox, snapshot: SnapshotAssertion
) -> None:
    async with make_tts(mock_soniox) as t:
        heard = await speak(
            t, ["Hello", " there.", " How are", " you today? I am", " fine, thanks."]
        )
    assert heard.sample_rate == 24000
    assert heard.duration_ms == pytest.approx(expected_ms(TEXT), abs=60)
    assert heard.final_frames == 1
    assert len(heard.request_ids) == 1
    entries = tts_entries(mock_soniox)
    assert stream_errors(entries) == []
    assert sent_frames(entries) == snapshot(name="frames-sent")
    assert {"frames": heard.frames, "duration_ms": round(heard.duration_ms, -1)} == snapshot(
        name="audio"
    )


async def test_synthesize_goes_through_the_same_pool(mock_soniox: MockSoniox) -> None:
    async with make_tts(mock_soniox) as t:
        first = await collect(t.synthesize("One sentence only.", conn_options=FAST))
        second = await speak(t, "And another one.")
    assert first.duration_ms == pytest.approx(expected_ms("One sentence only."), abs=60)
    assert second.duration_ms == pytest.approx(expected_ms("And another one."), abs=60)
    assert len(connections(tts_entries(mock_soniox))) == 1


async def test_blank_text_never_reaches_the_service(mock_soniox: MockSoniox) -> None:
    async with make_tts(mock_soniox) as t:
        heard = await speak(t, ["   ", "\n"])
    assert heard.samples == 0
    assert count(tts_entries(mock_soniox), "c2s", "config") == 0


async def test_word_timings_become_an_aligned_transcript(mock_soniox: MockSoniox) -> None:
    async with make_tts(mock_soniox, return_timestamps=True) as t:
        assert t.capabilities.aligned_transcript
        async with t.stream(conn_options=FAST) as stream:
            stream.push_text(TEXT)
            stream.end_input()
            words = []
            async for ev in stream:
                words += ev.frame.userdata.get("lk.timed_transcripts", [])
    assert [w.strip() for w in words] == words_of(TEXT)
    starts = [w.start_time for w in words]
    assert starts == sorted(starts)
    assert words[-1].end_time == pytest.approx(expected_ms(TEXT) / 1000, abs=0.07)


@pytest.mark.parametrize(
    ("audio_format", "sample_rate", "tolerance_ms"),
    [
        ("pcm_s16le", 16000, 60),
        ("pcm_f32le", 48000, 60),
        ("pcm_mulaw", 8000, 60),
        ("pcm_alaw", 8000, 60),
        ("wav", 24000, 60),
        # livekit 1.8.9's decoder drops FLAC's last frame (~170 ms); see the README's TTS section
        ("flac", 24000, 200),
        ("mp3", 24000, 200),
        ("opus", 48000, 200),
    ],
)
async def test_audio_formats_reach_livekit_as_pcm_at_the_requested_rate(
    mock_soniox: MockSoniox, audio_format: str, sample_rate: int, tolerance_ms: float
) -> None:
    async with make_tts(mock_soniox, audio_format=audio_format, sample_rate=sample_rate) as t:
        heard = await speak(t, TEXT)
    assert heard.sample_rate == sample_rate
    assert heard.duration_ms == pytest.approx(expected_ms(TEXT), abs=tolerance_ms)
    assert max(abs(s) for s in memoryview(bytes(heard.pcm)).cast("h")) > 1000  # not silence


async def test_twenty_streams_share_four_connections(mock_soniox: MockSoniox) -> None:
    async with make_tts(mock_soniox) as t, watch(mock_soniox) as journal:
        streams = [t.stream(conn_options=FAST) for _ in range(20)]
        for i, stream in enumerate(streams):
            stream.push_text(f"Stream number {i} says hello. ")
        # every stream is live at once before any of them ends
        await journal.until(lambda e: count(e, "c2s", "config") == 20)
        for stream in streams:
            stream.end_input()
        heard = await asyncio.gather(*(collect(s) for s in streams))
        for stream in streams:
            await stream.aclose()
    entries = tts_entries(mock_soniox)
    assert len(connections(entries)) == 4
    assert max(max_concurrent_streams(entries).values()) == 5
    assert stream_errors(entries) == []
    for i, h in enumerate(heard):
        assert h.duration_ms == pytest.approx(
            expected_ms(f"Stream number {i} says hello. "), abs=60
        )


async def test_cancel_stops_only_that_stream(mock_soniox: MockSoniox) -> None:
    async with make_tts(mock_soniox) as t, watch(mock_soniox) as journal:
        streams = [t.stream(conn_options=FAST) for _ in range(5)]
        texts = [f"Voice {i} begins. And then voice {i} goes on." for i in range(5)]
        for stream, text in zip(streams, texts, strict=True):
            stream.push_text(text)
        await journal.until(lambda e: count(e, "s2c", "audio") >= 5)
        victim = streams[2]
        await victim.aclose()
        assert [ev async for ev in victim] == []  # nothing of it after aclose() returned
        await journal.until(lambda e: count(e, "c2s", "cancel") == 1)
        others = [s for s in streams if s is not victim]
        for stream in others:
            stream.end_input()
        heard = await asyncio.gather(*(collect(s) for s in others))
        for stream in others:
            await stream.aclose()
    entries = tts_entries(mock_soniox)
    cancelled = [e.stream_id for e in entries if e.kind == "cancel"]
    assert len(cancelled) == 1
    assert stream_errors(entries) == []
    assert len(connections(entries)) == 1
    for h, text in zip(heard, [x for i, x in enumerate(texts) if i != 2], strict=True):
        assert h.duration_ms == pytest.approx(expected_ms(text), abs=60)


async def test_aclose_returns_when_audio_arrives_at_that_moment(mock_soniox: MockSoniox) -> None:
    # Python 3.11's wait_for swallowed a cancel that landed as an event arrived: the runner then
    # waited for input that only aclose() closes, and aclose() waited for the runner (a hang).
    async with make_tts(mock_soniox) as t, watch(mock_soniox) as journal:
        stream = t.stream(conn_options=FAST)
        stream.push_text("First sentence is here. And a second one waits")
        entries = await journal.until(lambda e: count(e, "s2c", "audio") >= 1)
        stream_id = next(e.stream_id for e in entries if e.kind == "config")
        assert t._pool is not None
        (conn,) = t._pool.connections
        # a frame the reader routes in the same loop iteration as the user's aclose()
        audio = base64.b64encode(bytes(480)).decode()
        conn._route(json.dumps({"stream_id": stream_id, "audio": audio}))
        async with asyncio.timeout(5):
            await stream.aclose()
        assert [ev async for ev in stream] == []
        await journal.until(lambda e: count(e, "c2s", "cancel") == 1)
    assert stream_errors(tts_entries(mock_soniox)) == []


async def test_streams_rotate_before_the_service_idle_timeout(mock_soniox: MockSoniox) -> None:
    async with (
        make_tts(mock_soniox, stream_idle_timeout=0.2) as t,
        watch(mock_soniox) as journal,
        t.stream(conn_options=FAST) as stream,
    ):
        stream.push_text("First sentence here. ")
        await journal.until(lambda e: count(e, "c2s", "text_end") == 1)
        stream.push_text("Second one after a pause.")
        stream.end_input()
        heard = await collect(stream)
    entries = tts_entries(mock_soniox)
    assert count(entries, "c2s", "config") == 2  # a fresh Soniox stream for the second sentence
    assert len(connections(entries)) == 1
    assert stream_errors(entries) == []
    assert heard.final_frames == 1
    total = expected_ms("First sentence here. ") + expected_ms("Second one after a pause.")
    assert heard.duration_ms == pytest.approx(total, abs=120)


async def test_prewarm_and_metrics_report_reuse(mock_soniox: MockSoniox) -> None:
    async with make_tts(mock_soniox) as t, watch(mock_soniox) as journal:
        collected: list[metrics.TTSMetrics] = []
        t.on("metrics_collected", collected.append)
        t.prewarm()
        await journal.until(lambda e: len(connections(e)) == 1)
        await speak(t, "Warm start.")
    assert len(connections(tts_entries(mock_soniox))) == 1
    assert len(collected) == 1
    assert collected[0].connection_reused
    assert collected[0].ttfb > 0
    assert collected[0].audio_duration == pytest.approx(expected_ms("Warm start.") / 1000, abs=0.06)


async def test_idle_connections_close_after_the_grace_period(
    mock_soniox: MockSoniox,
) -> None:
    async with make_tts(mock_soniox, connection_idle_timeout=0.1) as t, watch(mock_soniox) as j:
        streams = [t.stream(conn_options=FAST) for _ in range(6)]
        for stream in streams:
            stream.push_text("Hello. ")
        await j.until(lambda e: count(e, "c2s", "config") == 6)
        for stream in streams:
            stream.end_input()
        await asyncio.gather(*(collect(s) for s in streams))
        for stream in streams:
            await stream.aclose()
        await j.until(lambda e: count(e, "event", "closed") == 2)  # the last one too
        assert t._pool is not None
        assert t._pool.connections == []
        await speak(t, "Still here.")  # opens a fresh one
    assert len(connections(tts_entries(mock_soniox))) == 3


async def test_aclose_leaves_no_task_behind(mock_soniox: MockSoniox) -> None:
    before = {t for t in asyncio.all_tasks() if not t.done()}
    async with make_tts(mock_soniox) as t:
        stream = t.stream(conn_options=FAST)
        stream.push_text("Interrupted halfway. ")
        await asyncio.sleep(0)
    await stream.aclose()
    leftover = {t for t in asyncio.all_tasks() if not t.done()} - before
    assert leftover == set()
