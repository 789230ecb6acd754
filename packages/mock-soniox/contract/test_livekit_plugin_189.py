"""The PyPI `livekit-plugins-soniox` 1.8.9, unmodified, against the mock (or the live service
with MOCK_SONIOX_TARGET=live and SONIOX_API_KEY: ``soniox_target``)."""

from __future__ import annotations

import asyncio
import io
import wave
from importlib import resources

import aiohttp
from livekit import rtc
from livekit.agents import stt as lk_stt
from livekit.plugins import soniox
from speech import SAMPLE_RATE, chunks, utterances

from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.target import Target


async def test_stt_stream_reaches_final_transcript_and_end_of_speech(
    soniox_target: Target, mock_behind_target: MockSoniox | None
) -> None:
    async with aiohttp.ClientSession() as http:
        engine = soniox.STT(
            api_key=soniox_target.api_key, base_url=soniox_target.stt_url, http_session=http
        )
        stream = engine.stream()
        for chunk in chunks(utterances(tail_s=3.0)):
            stream.push_frame(
                rtc.AudioFrame(
                    chunk, SAMPLE_RATE, num_channels=1, samples_per_channel=len(chunk) // 2
                )
            )
        seen: list[lk_stt.SpeechEventType] = []
        final_text = ""
        async with asyncio.timeout(30):
            async for event in stream:
                seen.append(event.type)
                if event.type == lk_stt.SpeechEventType.FINAL_TRANSCRIPT:
                    final_text = event.alternatives[0].text
                if event.type == lk_stt.SpeechEventType.END_OF_SPEECH:
                    break
        await stream.aclose()
    assert lk_stt.SpeechEventType.START_OF_SPEECH in seen
    assert lk_stt.SpeechEventType.INTERIM_TRANSCRIPT in seen
    assert final_text.strip()
    if mock_behind_target is None:
        return  # the live service has no journal
    # Its config frame (with explicit nulls) was accepted as the service accepts it.
    config = mock_behind_target.journal.client_frames(kind="config", endpoint="stt")[0].data
    assert config["context"] is None and config["max_endpoint_delay_ms"] == 2000


async def test_stt_gets_a_final_per_sentence_of_read_speech(
    soniox_target: Target, mock_behind_target: MockSoniox | None
) -> None:
    """A bundled three-sentence recording (espeak-ng), then 3 s of silence, transcribed by the
    synthetic transcriber (fixtures off): 1.8.9 emits finals only on <end>, so each sentence must
    end with one at the plugin's default max_endpoint_delay_ms."""
    if mock_behind_target is not None:
        mock_behind_target.configure(fixtures_bundled=False)
    recording = resources.files("mock_soniox").joinpath("library/stt-en-single-speaker.wav")
    with wave.open(io.BytesIO(recording.read_bytes())) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (SAMPLE_RATE, 1)
        audio = wav.readframes(wav.getnframes()) + b"\0\0" * SAMPLE_RATE * 3
    async with aiohttp.ClientSession() as http:
        engine = soniox.STT(
            api_key=soniox_target.api_key, base_url=soniox_target.stt_url, http_session=http
        )
        stream = engine.stream()
        for chunk in chunks(audio):
            stream.push_frame(
                rtc.AudioFrame(
                    chunk, SAMPLE_RATE, num_channels=1, samples_per_channel=len(chunk) // 2
                )
            )
        finals: list[str] = []
        async with asyncio.timeout(30):
            async for event in stream:
                if event.type == lk_stt.SpeechEventType.FINAL_TRANSCRIPT:
                    finals.append(event.alternatives[0].text)
                if len(finals) == 3:
                    break
        await stream.aclose()
    assert len(finals) == 3, finals
    assert all(text.strip().endswith(".") for text in finals)


async def test_tts_synthesize_and_concurrent_streams_share_one_socket(
    soniox_target: Target, mock_behind_target: MockSoniox | None
) -> None:
    async with aiohttp.ClientSession() as http:
        engine = soniox.TTS(
            api_key=soniox_target.api_key, websocket_url=soniox_target.tts_url, http_session=http
        )

        async def speak(text: str) -> float:
            duration = 0.0
            stream = engine.stream()
            stream.push_text(text)
            stream.end_input()
            async for audio in stream:
                duration += audio.frame.duration
            await stream.aclose()
            return duration

        async with asyncio.timeout(30):
            durations = await asyncio.gather(
                speak("First stream talks. "), speak("Second stream talks too. ")
            )
            chunked = 0.0
            async for audio in engine.synthesize("A whole sentence at once."):
                chunked += audio.frame.duration
        await engine.aclose()
    assert all(d > 0.5 for d in durations)
    assert chunked > 0.5
    if mock_behind_target is None:
        return  # the live service has no journal to count its connections
    tts_connections = {e.conn_id for e in mock_behind_target.journal.client_frames(endpoint="tts")}
    assert len(tts_connections) == 1
