"""The official `soniox` Python SDK 2.10.x, unmodified, against the mock (or, with
MOCK_SONIOX_TARGET=live and SONIOX_API_KEY, the live service: ``soniox_target``)."""

from __future__ import annotations

import asyncio

import pytest
from soniox import AsyncSonioxClient
from soniox.types import RealtimeSTTConfig, RealtimeTTSConfig
from speech import chunks, utterances

from mock_soniox.testing.target import Target


def _client(target: Target) -> AsyncSonioxClient:
    return AsyncSonioxClient(
        api_key=target.api_key,
        websocket_base_url=target.stt_url,
        tts_websocket_base_url=target.tts_url,
    )


async def test_realtime_stt_session_transcribes_finalizes_and_finishes(
    soniox_target: Target,
) -> None:
    config = RealtimeSTTConfig(
        model="stt-rt-v4",
        audio_format="pcm_s16le",
        sample_rate=16000,
        num_channels=1,
        enable_endpoint_detection=True,
        enable_language_identification=True,
    )
    client = _client(soniox_target)
    final_texts: list[str] = []
    finished = False
    async with client.realtime.stt.connect(config=config) as session:
        for chunk in chunks(utterances()):
            await session.send_byte_chunk(chunk)
        await session.keep_alive()
        await session.finalize()
        await session.finish()
        async with asyncio.timeout(30):
            async for event in session.receive_events():
                assert event.error_code is None, event.error_message
                final_texts += [t.text for t in event.tokens if t.is_final]
                if event.finished:
                    finished = True
                    break
    assert finished
    words = [t for t in final_texts if not t.startswith("<")]
    assert words, "the SDK saw no final words"
    assert "<fin>" in final_texts
    assert "<end>" in final_texts


async def test_realtime_stt_bad_model_surfaces_as_sdk_error(soniox_target: Target) -> None:
    config = RealtimeSTTConfig(
        model="no-such-model", audio_format="pcm_s16le", sample_rate=16000, num_channels=1
    )
    async with _client(soniox_target).realtime.stt.connect(config=config) as session:
        async with asyncio.timeout(10):
            event = await session.receive_event()
    assert event is not None
    assert event.error_code == 400
    assert event.error_message == "Invalid model specified."


async def test_multi_stream_tts_connection_carries_two_streams(soniox_target: Target) -> None:
    client = _client(soniox_target)
    async with client.realtime.tts.connect_multi_stream() as connection:
        streams = [
            await connection.open_stream(
                config=RealtimeTTSConfig(
                    stream_id=f"s-{i}",
                    model="tts-rt-v2",
                    language="en",
                    voice=voice,
                    audio_format="pcm_s16le",
                    sample_rate=24000,
                    return_timestamps=True,
                )
            )
            for i, voice in enumerate(("Adrian", "Maya"))
        ]
        for stream in streams:
            await stream.send_text_chunk("Hello from the contract test. ")
            await stream.finish()

        async def collect(stream: object) -> int:
            total = 0
            async for chunk in stream.receive_audio_chunks():  # type: ignore[attr-defined]
                total += len(chunk)
            return total

        async with asyncio.timeout(30):
            sizes = [await collect(s) for s in streams]
    assert all(size > 0 and size % 2 == 0 for size in sizes)


async def test_single_stream_tts_connection(soniox_target: Target) -> None:
    config = RealtimeTTSConfig(
        stream_id="only",
        model="tts-rt-v1",
        language="en",
        voice="Adrian",
        audio_format="wav",
        sample_rate=16000,
    )
    audio = b""
    async with _client(soniox_target).realtime.tts.connect(config=config) as connection:
        await connection.send_text_chunk("One sentence is enough.", text_end=True)
        async with asyncio.timeout(30):
            async for chunk in connection.receive_audio_chunks():
                audio += chunk
    assert audio[:4] == b"RIFF"


@pytest.mark.parametrize("speed", [0.7, 1.3])
async def test_tts_speed_changes_audio_length(soniox_target: Target, speed: float) -> None:
    client = _client(soniox_target)
    async with client.realtime.tts.connect_multi_stream() as connection:
        stream = await connection.open_stream(
            config=RealtimeTTSConfig(
                stream_id="speed",
                model="tts-rt-v2",
                language="en",
                voice="Adrian",
                audio_format="pcm_s16le",
                sample_rate=24000,
                speed=speed,
            )
        )
        await stream.send_text_chunks("The quick brown fox jumps over the lazy dog.")
        total = 0
        async with asyncio.timeout(30):
            async for chunk in stream.receive_audio_chunks():
                total += len(chunk)
    seconds = total / 2 / 24000
    # 44 characters at ~60 ms each, divided by the speed factor.
    assert seconds == pytest.approx(44 * 0.06 / speed, rel=0.35)
