"""Replaying the bundled fixtures through the mock's STT and TTS endpoints."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import numpy as np
import pytest

from mock_soniox.fixtures.library import Library
from mock_soniox.fixtures.model import Fixture
from mock_soniox.fixtures.replay.events import (
    EV_DIVERGED,
    EV_FIXTURE,
    EV_NO_MATCH,
    assert_fixtures_consumed,
    unconsumed_fixtures,
)
from mock_soniox.testing.pytest_plugin import MockSoniox

KEY = {"Authorization": "Bearer test-key"}
LIBRARY = Library.load()
STT_NAMES = LIBRARY.names("stt")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def fixture(name: str) -> Fixture:
    found = LIBRARY.get(name)
    assert found is not None
    return found


def recorded_results(fx: Fixture) -> list[dict[str, Any]]:
    """What the recording's client received, minus the closing ``finished`` frame."""
    return [r for r in fx.results() if not r.get("finished")]


def finalize_points(fx: Fixture) -> list[float]:
    return [
        f.audio_ms or 0.0
        for f in fx.frames
        if f.dir == "c2s" and isinstance(f.json, dict) and f.json.get("type") == "finalize"
    ]


async def stream_stt(
    http: aiohttp.ClientSession,
    url: str,
    fx: Fixture,
    *,
    chunk_ms: int = 120,
    config: dict[str, Any] | None = None,
    finalize_at: Sequence[float] = (),
    stop_at_ms: float | None = None,
    headers: dict[str, str] | None = None,
    audio: bytes | None = None,
) -> list[dict[str, Any]]:
    """Stream a fixture's audio like a client would; every frame the server sent, in order."""
    ws = await http.ws_connect(url, headers={**KEY, **(headers or {})})
    await ws.send_str(json.dumps(config if config is not None else fx.config))
    data = fx.input_audio() if audio is None else audio
    step = 32 * chunk_ms
    sent_ms = 0.0
    pending = sorted(finalize_at)
    for offset in range(0, len(data), step):
        if stop_at_ms is not None and sent_ms >= stop_at_ms:
            break
        chunk = data[offset : offset + step]
        await ws.send_bytes(chunk)
        sent_ms += len(chunk) / 32
        if pending and sent_ms >= pending[0]:
            pending.pop(0)
            await ws.send_str('{"type": "finalize"}')
    await ws.send_str("")
    frames: list[dict[str, Any]] = []
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        frames.append(json.loads(msg.data))
    await ws.close()
    return frames


def transcript(frames: list[dict[str, Any]]) -> str:
    return "".join(
        t["text"]
        for f in frames
        for t in f.get("tokens", [])
        if t["is_final"]
        and t["text"] not in ("<end>", "<fin>")
        and t.get("translation_status") != "translation"
    ).strip()


@pytest.mark.parametrize("name", STT_NAMES)
async def test_named_fixture_replays_the_recorded_sequence(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, name: str
) -> None:
    fx = fixture(name)
    frames = await stream_stt(
        http, f"{mock_soniox.stt_url}?fixture={name}", fx, finalize_at=finalize_points(fx)
    )
    assert frames[-1]["finished"] is True
    assert frames[:-1] == recorded_results(fx)
    assert_fixtures_consumed(mock_soniox.journal)


@pytest.mark.parametrize("chunk_ms", [20, 250])
async def test_any_chunking_gets_the_same_sequence(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, chunk_ms: int
) -> None:
    fx = fixture("stt-en-two-speakers")
    frames = await stream_stt(
        http, mock_soniox.stt_url, fx, chunk_ms=chunk_ms, headers={"X-Mock-Fixture": fx.name}
    )
    assert [f["tokens"] for f in frames[:-1]] == [r["tokens"] for r in recorded_results(fx)]


async def test_client_reference_id_picks_the_fixture(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    fx = fixture("stt-en-es-mixed")
    config = {**(fx.config or {}), "client_reference_id": "fixture:stt-en-es-mixed"}
    frames = await stream_stt(http, mock_soniox.stt_url, fx, config=config)
    assert transcript(frames) == fx.transcript
    (event,) = mock_soniox.journal.select(direction="event", kind=EV_FIXTURE)
    assert event.data["how"] == "explicit" and event.fixture == fx.name


async def test_audio_alone_finds_the_fixture(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    fx = fixture("stt-en-single-speaker")
    frames = await stream_stt(http, mock_soniox.stt_url, fx, chunk_ms=40)
    assert frames[:-1] == recorded_results(fx)
    (event,) = mock_soniox.journal.select(direction="event", kind=EV_FIXTURE)
    assert event.data == {"name": fx.name, "endpoint": "stt", "how": "audio", "strict": False}


async def test_audio_matching_survives_resampling_and_mulaw(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    from mock_soniox.audio import decode, encode
    from mock_soniox.fixtures.replay.tts import resample

    fx = fixture("stt-en-long")
    samples = resample(decode("pcm_s16le", fx.input_audio()), 16000, 8000)
    mulaw = encode("mulaw", samples)
    config = {**(fx.config or {}), "audio_format": "mulaw", "sample_rate": 8000}
    # 8 kHz mu-law is 8 bytes per ms: send 4 ms "chunks" of 32 bytes each to vary it further.
    frames = await stream_stt(http, mock_soniox.stt_url, fx, config=config, audio=mulaw)
    assert transcript(frames) == fx.transcript


async def test_unknown_audio_gets_the_synthetic_transcript(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    fx = fixture("stt-en-single-speaker")
    rng = np.random.default_rng(7)
    tone = (np.sin(np.arange(48000) * 0.05) * 8000 * (rng.random(48000) > 0.3)).astype("<i2")
    frames = await stream_stt(http, mock_soniox.stt_url, fx, audio=tone.tobytes())
    assert frames[-1]["finished"] is True
    assert not mock_soniox.journal.select(direction="event", kind=EV_FIXTURE)
    (miss,) = mock_soniox.journal.select(direction="event", kind=EV_NO_MATCH)
    assert miss.data["reason"] == "audio matched no fixture"


async def test_unknown_fixture_name_is_a_clear_error(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    fx = fixture("stt-en-finalize")
    frames = await stream_stt(http, f"{mock_soniox.stt_url}?fixture=nope", fx, stop_at_ms=0)
    (error,) = frames
    assert error["error_code"] == 400
    assert "Unknown STT fixture 'nope'" in error["error_message"]
    assert "stt-en-finalize" in error["error_message"]


async def test_finalize_where_the_recording_had_none(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    fx = fixture("stt-en-single-speaker")
    frames = await stream_stt(
        http, f"{mock_soniox.stt_url}?fixture={fx.name}", fx, finalize_at=[1800.0]
    )
    fin = [i for i, f in enumerate(frames) if any(t["text"] == "<fin>" for t in f["tokens"])]
    assert len(fin) == 1
    before = transcript(frames[: fin[0] + 1])
    assert before == "Hello there" or before.startswith("Hello")
    # Nothing is lost or repeated: the session still ends with the recording's transcript.
    assert transcript(frames) == fx.transcript
    assert mock_soniox.journal.select(direction="event", kind=EV_DIVERGED)


async def test_without_the_recorded_finalize_no_fin_is_sent(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    fx = fixture("stt-en-finalize")
    frames = await stream_stt(http, f"{mock_soniox.stt_url}?fixture={fx.name}", fx)
    texts = [t["text"] for f in frames for t in f["tokens"]]
    assert "<fin>" not in texts and "<end>" in texts
    assert transcript(frames) == fx.transcript


async def test_finishing_early_finalizes_what_was_said(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    fx = fixture("stt-en-long")
    frames = await stream_stt(http, f"{mock_soniox.stt_url}?fixture={fx.name}", fx, stop_at_ms=6000)
    said = transcript(frames)
    assert fx.transcript.startswith(said) and 20 < len(said) < len(fx.transcript) / 2
    assert frames[-1]["finished"] is True and frames[-1]["total_audio_proc_ms"] == 6000
    assert unconsumed_fixtures(mock_soniox.journal) == [fx.name]
    with pytest.raises(AssertionError, match="not fully consumed: stt-en-long"):
        assert_fixtures_consumed(mock_soniox.journal)


async def test_tokens_follow_the_session_config(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    fx = fixture("stt-en-translation-es")
    config = {**(fx.config or {}), "translation": None, "enable_language_identification": False}
    frames = await stream_stt(http, f"{mock_soniox.stt_url}?fixture={fx.name}", fx, config=config)
    tokens = [t for f in frames for t in f["tokens"]]
    assert not any("translation_status" in t or "language" in t for t in tokens)
    assert transcript(frames) == fx.transcript

    fx = fixture("stt-en-two-speakers")
    config = {**(fx.config or {}), "enable_speaker_diarization": False}
    frames = await stream_stt(http, f"{mock_soniox.stt_url}?fixture={fx.name}", fx, config=config)
    assert not any("speaker" in t for f in frames for t in f["tokens"])


async def test_strict_mode_reports_the_nearest_recorded_frame(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    fx = fixture("stt-en-finalize")
    url = f"{mock_soniox.stt_url}?fixture={fx.name}&fixture_strict=1"
    frames = await stream_stt(http, url, fx, finalize_at=[1000.0])
    error = frames[-1]
    assert error["error_code"] == 400 and error["error_type"] == "fixture_mismatch"
    assert "finalize at 1080 ms" in error["error_message"]
    assert "nearest recorded frame: line 26 (finalize at 2160 ms)" in error["error_message"]

    mock_soniox.configure(fixtures_strict=True)
    config = {**(fx.config or {}), "enable_endpoint_detection": False}
    frames = await stream_stt(http, f"{mock_soniox.stt_url}?fixture={fx.name}", fx, config=config)
    assert "enable_endpoint_detection" in frames[-1]["error_message"]


# --- TTS ---

MAYA = {
    "model": "tts-rt-v2",
    "language": "en",
    "voice": "Maya",
    "audio_format": "pcm_s16le",
    "sample_rate": 16000,
    "return_timestamps": True,
}


async def speak(
    http: aiohttp.ClientSession, url: str, texts: list[str], **config: Any
) -> tuple[bytes, str]:
    ws = await http.ws_connect(url, headers=KEY)
    await ws.send_str(json.dumps({"stream_id": "mine", **MAYA, **config}))
    for text in texts:
        await ws.send_str(json.dumps({"stream_id": "mine", "text": text}))
    await ws.send_str(json.dumps({"stream_id": "mine", "text_end": True}))
    audio = b""
    chars = ""
    while True:
        frame = json.loads((await ws.receive(timeout=10)).data)
        audio += base64.b64decode(frame.get("audio", ""))
        chars += "".join(frame.get("timestamps", {}).get("characters", []))
        if frame.get("terminated"):
            break
    await ws.close()
    return audio, chars


@pytest.mark.parametrize(
    "texts", [["Hello! How can I help you today?"], ["Hello! ", "How can I ", "help you today?"]]
)
async def test_tts_stream_replays_recorded_audio(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, texts: list[str]
) -> None:
    fx = fixture("tts-maya")
    stream = fx.tts_streams()[0]
    assert stream.audio_file is not None
    audio, chars = await speak(http, mock_soniox.tts_url, texts)
    recorded = fx.side_payload(stream.audio_file)
    # Same speech (to the last bit: float round trip); then a little silence at text_end.
    got = np.frombuffer(audio, dtype="<i2").astype(np.int32)
    want = np.frombuffer(recorded, dtype="<i2").astype(np.int32)
    assert np.abs(got[: want.size] - want).max() <= 1
    assert np.abs(got[want.size :]).max(initial=0) == 0
    assert chars == "Hello! How can I help you today?"
    (event,) = mock_soniox.journal.select(direction="event", kind=EV_FIXTURE)
    assert event.data["name"] == "tts-maya" and event.stream_id == "mine"


async def test_tts_replay_resamples_to_the_requested_rate(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    stream = fixture("tts-maya").tts_streams()[1]
    audio, _ = await speak(
        http, mock_soniox.tts_url, ["Your order has shipped."], sample_rate=24000
    )
    expected = stream.audio_bytes * 24000 // 16000
    assert abs(len(audio) - expected) < 24000 * 2 * 0.05


async def test_tts_text_not_recorded_falls_back_to_synthetic(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    audio, chars = await speak(http, mock_soniox.tts_url, ["Something nobody recorded."])
    assert audio and chars == "Something nobody recorded."
    assert not mock_soniox.journal.select(direction="event", kind=EV_FIXTURE)
    assert mock_soniox.journal.select(direction="event", kind=EV_NO_MATCH)


async def test_tts_fixture_consumed_once_every_stream_was_asked_for(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    for stream in fixture("tts-adrian").tts_streams():
        await speak(http, mock_soniox.tts_url, [stream.text], voice="Adrian")
        if stream.ordinal == 1:
            assert unconsumed_fixtures(mock_soniox.journal) == ["tts-adrian"]
    assert_fixtures_consumed(mock_soniox.journal)


async def test_a_broken_fixture_directory_is_a_clear_error(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, tmp_path: Any
) -> None:
    (tmp_path / "bad.jsonl").write_text("not json\n")
    mock_soniox.configure(fixtures_dir=str(tmp_path))
    fx = fixture("stt-en-finalize")
    frames = await stream_stt(http, mock_soniox.stt_url, fx, stop_at_ms=0)
    assert frames[0]["error_code"] == 500
    assert "bad.jsonl:1: not JSON" in frames[0]["error_message"]
