"""The recording proxy, tested by chaining client -> recorder -> mock (synthetic), then replay."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from mock_soniox import cli
from mock_soniox.fixtures.library import load_fixture
from mock_soniox.record import RecordOptions, running_recorder
from mock_soniox.settings import Settings
from mock_soniox.testing.pytest_plugin import MockSoniox

SECRET = "sk-very-secret-123"
UNREACHABLE = "ws://127.0.0.1:9/nowhere"
FAST = Settings(time_scale=0.0)
STT_CONFIG = {
    "model": "stt-rt-v4",
    "audio_format": "pcm_s16le",
    "sample_rate": 16000,
    "num_channels": 1,
    "enable_endpoint_detection": True,
    "enable_language_identification": True,
}
TTS_CONFIG = {
    "model": "tts-rt-v2",
    "language": "en",
    "voice": "Recorder-Test",
    "audio_format": "pcm_s16le",
    "sample_rate": 16000,
    "return_timestamps": True,
}


def speechlike_audio(seconds: float = 3.0) -> bytes:
    """Tone bursts with pauses: the synthetic transcriber hears words; no fixture matches it."""
    t = np.arange(int(16000 * seconds)) / 16000
    on = (t % 0.5) < 0.3
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * on
    return (tone * 32767).astype("<i2").tobytes()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def stt_session(
    http: aiohttp.ClientSession, url: str, audio: bytes, **connect: Any
) -> list[dict[str, Any]]:
    ws = await http.ws_connect(url, **connect)
    if connect.get("protocols"):
        assert ws.protocol == "soniox-api-key"
    await ws.send_str(json.dumps(STT_CONFIG))
    for offset in range(0, len(audio), 3200):
        await ws.send_bytes(audio[offset : offset + 3200])
        if offset == 16000:
            await ws.send_str('{"type": "finalize"}')
    await ws.send_str("")
    frames = []
    while (msg := await ws.receive(timeout=10)).type == aiohttp.WSMsgType.TEXT:
        frames.append(json.loads(msg.data))
    await ws.close()
    return frames


async def tts_session(
    http: aiohttp.ClientSession, url: str, texts: dict[str, str], **connect: Any
) -> dict[str, list[dict[str, Any]]]:
    ws = await http.ws_connect(url, **connect)
    for sid, text in texts.items():
        await ws.send_str(json.dumps({"stream_id": sid, **TTS_CONFIG}))
        await ws.send_str(json.dumps({"stream_id": sid, "text": text}))
    for sid in texts:
        await ws.send_str(json.dumps({"stream_id": sid, "text_end": True}))
    frames: dict[str, list[dict[str, Any]]] = {sid: [] for sid in texts}
    done: set[str] = set()
    while done != set(texts):
        frame = json.loads((await ws.receive(timeout=10)).data)
        frames[frame["stream_id"]].append(frame)
        if frame.get("terminated"):
            done.add(frame["stream_id"])
    await ws.close()
    return frames


def options(tmp_path: Path, mock: MockSoniox, mode: str = "all", **kw: Any) -> RecordOptions:
    return RecordOptions(
        tmp_path, mode=mode, stt_upstream=mock.stt_url, tts_upstream=mock.tts_url, **kw
    )


async def test_stt_recorded_through_the_proxy_replays_the_same_sequence(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    audio = speechlike_audio()
    async with running_recorder(options(tmp_path, mock_soniox)) as (recorder, base):
        live = await stt_session(
            http,
            f"{base}/transcribe-websocket?fixture=rec-stt",
            audio,
            protocols=("soniox-api-key", SECRET),
        )
        await recorder.wait_written(1)
    assert any(f["tokens"] for f in live) and live[-1]["finished"] is True
    (path,) = recorder.written
    assert path == tmp_path / "rec-stt.jsonl"
    assert SECRET not in path.read_text()
    fixture = load_fixture(path)
    assert fixture.header["redactions"] == ["subprotocol"]
    assert fixture.input_audio() == audio
    assert fixture.frames[-1].kind == "close" and fixture.frames[-1].code == 1000

    mock_soniox.configure(fixtures_dir=str(tmp_path))
    replayed = await stt_session(
        http, f"{mock_soniox.stt_url}?fixture=rec-stt", audio, headers={"Authorization": "Bearer k"}
    )
    assert replayed == live


async def test_config_api_key_is_scrubbed_and_replaced_upstream(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    mock_soniox.configure(api_keys=(SECRET,))
    opts = options(tmp_path, mock_soniox, api_key=SECRET)
    async with running_recorder(opts) as (recorder, base):
        ws = await http.ws_connect(f"{base}/tts-websocket?fixture=legacy")
        await ws.send_str(json.dumps({"stream_id": "a", **TTS_CONFIG, "api_key": "placeholder"}))
        await ws.send_str(json.dumps({"stream_id": "a", "text": "Hi.", "text_end": True}))
        while not json.loads((await ws.receive(timeout=10)).data).get("terminated"):
            pass
        await ws.close()
        await recorder.wait_written(1)
    (path,) = recorder.written
    text = path.read_text()
    assert SECRET not in text and "placeholder" not in text
    fixture = load_fixture(path)
    assert fixture.header["redactions"] == ["config.api_key"]
    # The mock accepted only SECRET: the proxy authenticated upstream with its own key.
    statuses = [f.json for f in fixture.frames if f.dir == "s2c" and f.json]
    assert statuses[-1] == {"stream_id": "a", "terminated": True}
    assert not any("error_code" in s for s in statuses)


async def test_the_proxy_relays_results_while_audio_still_flows(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    audio = speechlike_audio(4.0)
    async with running_recorder(options(tmp_path, mock_soniox)) as (_, base):
        ws = await http.ws_connect(
            f"{base}/transcribe-websocket", headers={"Authorization": "Bearer k"}
        )
        await ws.send_str(json.dumps(STT_CONFIG))
        await ws.send_bytes(audio[: len(audio) // 2])
        # A result for the first half arrives before the client sends the rest.
        first = json.loads((await ws.receive(timeout=10)).data)
        assert first["total_audio_proc_ms"] <= 2000
        await ws.send_bytes(audio[len(audio) // 2 :])
        await ws.send_str("")
        while (await ws.receive(timeout=10)).type == aiohttp.WSMsgType.TEXT:
            pass
        await ws.close()


async def test_tts_recorded_through_the_proxy_replays_per_stream(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    texts = {"one": "Hello there. How are you?", "two": "Fine, thanks."}
    auth = {"headers": {"Authorization": f"Bearer {SECRET}"}}
    async with running_recorder(options(tmp_path, mock_soniox)) as (recorder, base):
        live = await tts_session(http, f"{base}/tts-websocket?fixture=rec-tts", texts, **auth)
        await recorder.wait_written(1)
    (path,) = recorder.written
    assert SECRET not in path.read_text()
    fixture = load_fixture(path)
    assert fixture.header["redactions"] == ["authorization_header"]
    assert [s.text for s in fixture.tts_streams()] == list(texts.values())

    mock_soniox.configure(fixtures_dir=str(tmp_path))
    # Replay with other stream ids, in the other order: each stream is matched on its own.
    again = await tts_session(
        http, mock_soniox.tts_url, {"b": texts["two"], "a": texts["one"]}, **auth
    )
    for old, new in (("one", "a"), ("two", "b")):
        # Chunk boundaries follow the sentences the handler saw at each moment, so only the
        # order of events is compared, and the audio and timestamps they carry.
        assert shape(again[new])[-2:] == shape(live[old])[-2:] == ["end", "terminated"]
        assert set(shape(again[new])[:-2]) <= {"audio"}
        assert characters(again[new]) == characters(live[old]) == texts[old]
        recorded, replayed = samples(live[old]), samples(again[new])
        assert np.abs(replayed[: recorded.size] - recorded).max() <= 1


def shape(frames: list[dict[str, Any]]) -> list[str]:
    return [
        "terminated" if f.get("terminated") else "end" if f.get("audio_end") else "audio"
        for f in frames
    ]


def characters(frames: list[dict[str, Any]]) -> str:
    return "".join(c for f in frames for c in f.get("timestamps", {}).get("characters", []))


def samples(frames: list[dict[str, Any]]) -> np.ndarray[Any, np.dtype[np.int32]]:
    raw = b"".join(base64.b64decode(f.get("audio", "")) for f in frames)
    return np.frombuffer(raw, dtype="<i2").astype(np.int32)


async def test_mode_none_never_goes_upstream(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    opts = RecordOptions(tmp_path, mode="none", stt_upstream=UNREACHABLE, tts_upstream=UNREACHABLE)
    async with running_recorder(opts, replay_settings=FAST) as (recorder, base):
        frames = await tts_session(
            http, f"{base}/tts-websocket", {"s": "Hi."}, headers={"Authorization": "Bearer k"}
        )
    assert shape(frames["s"])[-2:] == ["end", "terminated"]
    assert recorder.written == []
    assert not await asyncio.to_thread(lambda: list(tmp_path.iterdir()))


async def test_mode_once_records_into_an_empty_directory_then_replays(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    auth = {"headers": {"Authorization": "Bearer k"}}
    async with running_recorder(options(tmp_path, mock_soniox, "once"), replay_settings=FAST) as (
        recorder,
        base,
    ):
        await tts_session(http, f"{base}/tts-websocket", {"s": "Hi."}, **auth)
        assert len(await recorder.wait_written(1)) == 1
        recorder.options.tts_upstream = UNREACHABLE  # from now on, going upstream would fail
        frames = await tts_session(http, f"{base}/tts-websocket", {"s": "Hi."}, **auth)
    assert shape(frames["s"])[-1] == "terminated"
    assert len(recorder.written) == 1


async def test_mode_new_episodes_replays_known_names_and_records_new_ones(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    auth = {"headers": {"Authorization": "Bearer k"}}
    opts = options(tmp_path, mock_soniox, "new_episodes")
    async with running_recorder(opts, replay_settings=FAST) as (recorder, base):
        await tts_session(http, f"{base}/tts-websocket?fixture=known", {"s": "Hi."}, **auth)
        await recorder.wait_written(1)
        recorder.options.tts_upstream = UNREACHABLE
        await tts_session(http, f"{base}/tts-websocket?fixture=known", {"s": "Hi."}, **auth)
        assert [p.stem for p in recorder.written] == ["known"]
        recorder.options.tts_upstream = mock_soniox.tts_url
        await tts_session(http, f"{base}/tts-websocket?fixture=fresh", {"s": "Hey."}, **auth)
        await recorder.wait_written(2)
    assert [p.stem for p in recorder.written] == ["known", "fresh"]


def test_record_mode_must_be_known(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="record mode must be one of"):
        RecordOptions(tmp_path, mode="sometimes")


def test_serve_record_needs_a_fixtures_directory(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--record", "all"]) == 2
    assert "--record needs --fixtures" in capsys.readouterr().err
