"""Every STT error a client can provoke: one error frame naming the problem, then close 1000."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from mock_soniox.testing import stt
from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.stt import BASIC_CONFIG, LK_CONFIG, Transcript, connect, read_all
from mock_soniox.testing.target import Target, mock_target

SPEECH_CHUNK = b"\x00\x10" * 1920  # 120 ms of 16 kHz s16le


async def session_error(
    target: Target | MockSoniox,
    frames: list[str | bytes],
    headers: dict[str, str] | None = None,
) -> Transcript:
    """Send ``frames`` (with the target's key unless ``headers`` say otherwise); one error."""
    if isinstance(target, MockSoniox):
        target = mock_target(target.stt_url, target.tts_url)
    return await stt.session_error(target, frames, headers)


def config(**changes: Any) -> str:
    return json.dumps({**BASIC_CONFIG, **changes})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"model": None}, "model"),
        ({"audio_format": "pcm_s12le"}, "Invalid audio data format: pcm_s12le"),
        ({"audio_format": 5}, "audio_format"),
        ({"sample_rate": None}, "sample rate must be specified"),
        ({"sample_rate": 1000}, "sample_rate"),
        ({"sample_rate": "16000"}, "sample_rate"),
        ({"num_channels": None}, "channels must be specified"),
        ({"num_channels": 9}, "num_channels"),
        ({"num_channels": True}, "num_channels"),
        ({"language_hints": "en"}, "language_hints"),
        ({"language_hints": ["eng"]}, "Invalid language hint."),
        ({"language_hints_strict": "yes"}, "language_hints_strict"),
        ({"context": 42}, "context"),
        ({"context": {"general": [{"key": "a"}]}}, "context.general"),
        ({"context": {"terms": "Soniox"}}, "context.terms"),
        ({"context": {"text": ["x"]}}, "context.text"),
        ({"context": {"translation_terms": [{"source": "a"}]}}, "context.translation_terms"),
        ({"context": "x" * 10_001}, "Context is too long (max length 10000)."),
        ({"enable_speaker_diarization": 1}, "enable_speaker_diarization"),
        ({"enable_language_identification": "true"}, "enable_language_identification"),
        ({"enable_endpoint_detection": 0}, "enable_endpoint_detection"),
        ({"max_endpoint_delay_ms": 499}, "max_endpoint_delay_ms"),
        ({"max_endpoint_delay_ms": 3001}, "max_endpoint_delay_ms"),
        ({"max_endpoint_delay_ms": 1000.5}, "max_endpoint_delay_ms"),
        ({"endpoint_sensitivity": 1.5}, "endpoint_sensitivity"),
        ({"endpoint_sensitivity": "high"}, "endpoint_sensitivity"),
        ({"endpoint_latency_adjustment_level": 4}, "endpoint_latency_adjustment_level"),
        ({"translation": {"type": "one_way"}}, "translation.target_language"),
        ({"translation": {"type": "two_way", "language_a": "en"}}, "translation.language_b"),
        ({"translation": {"type": "three_way"}}, "translation.type"),
        ({"translation": "es"}, "translation"),
        ({"client_reference_id": "x" * 257}, "Client reference ID is too long (max length 256)"),
        ({"client_reference_id": 7}, "client_reference_id"),
        ({"audio_format": "mp3"}, "audio_format"),
    ],
)
async def test_invalid_config_field_is_named(
    soniox_target: Target, changes: dict[str, Any], field: str
) -> None:
    out = await session_error(soniox_target, [config(**changes)])
    error = out.errors[0]
    assert (error["error_code"], error["error_type"]) == (400, "invalid_request")
    assert field in error["error_message"]


async def test_unknown_model(mock_soniox: MockSoniox) -> None:
    out = await session_error(mock_soniox, [config(model="stt-rt-v9")])
    error = out.errors[0]
    assert error["error_code"] == 400
    assert error["error_type"] == "model_not_available"
    assert error["error_message"] == "Invalid model specified."


@pytest.mark.parametrize("field", ["endpoint_sensitivity", "endpoint_latency_adjustment_level"])
@pytest.mark.parametrize("model", ["stt-rt-v4", "stt-rt-v3", "stt-rt-preview"])
async def test_v5_only_fields_on_older_models(
    mock_soniox: MockSoniox, field: str, model: str
) -> None:
    out = await session_error(mock_soniox, [config(model=model, **{field: 0})])
    assert out.errors[0]["error_code"] == 400
    assert field in out.errors[0]["error_message"]


@pytest.mark.parametrize(
    "model",
    [
        "stt-rt-v6",
        "stt-rt-v5",
        "stt-rt-v4",
        "stt-rt-v3",
        "stt-rt-preview",
        "stt-rt-preview-v2",
        "stt-rt-v3-preview",
    ],
)
async def test_current_models_and_aliases_are_accepted(mock_soniox: MockSoniox, model: str) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, mock_soniox.stt_url)
        await ws.send_str(config(model=model))
        await ws.send_bytes(SPEECH_CHUNK)
        await ws.send_str("")
        out = await read_all(ws)
    assert not out.errors and out.frames[-1]["finished"] is True


async def test_null_means_absent_for_every_optional_field(soniox_target: Target) -> None:
    nulls = dict.fromkeys(
        (
            "language_hints",
            "language_hints_strict",
            "context",
            "enable_speaker_diarization",
            "enable_language_identification",
            "enable_endpoint_detection",
            "max_endpoint_delay_ms",
            "endpoint_sensitivity",
            "endpoint_latency_adjustment_level",
            "translation",
            "client_reference_id",
            "api_key",
        )
    )
    async with soniox_target.session() as http:
        for cfg in ({**BASIC_CONFIG, **nulls}, LK_CONFIG, {**LK_CONFIG, "model": "stt-rt-v4"}):
            ws = await connect(http, soniox_target.stt_url, soniox_target.headers)
            await ws.send_str(json.dumps(cfg))
            await ws.send_bytes(SPEECH_CHUNK)
            await ws.send_str("")
            out = await read_all(ws)
            assert not out.errors, out.errors
            assert out.frames[-1]["total_audio_proc_ms"] == 120


async def test_unknown_extra_fields_are_ignored(soniox_target: Target) -> None:
    async with soniox_target.session() as http:
        ws = await connect(http, soniox_target.stt_url, soniox_target.headers)
        await ws.send_str(config(enable_non_final_tokens=True))
        await ws.send_bytes(SPEECH_CHUNK)
        await ws.send_str("")
        out = await read_all(ws)
    assert not out.errors


@pytest.mark.parametrize(
    ("frames", "words"),
    [
        (["{not json"], "Start request is malformed."),
        (["[1, 2]"], "Start request is malformed."),
        ([""], "Start request is malformed."),
        (['{"type": "keepalive"}'], "Start request is malformed."),
        ([SPEECH_CHUNK], "Start request must be a text message."),
        ([config(), "{oops"], "Control request is malformed."),
        ([config(), '"keepalive"'], "Control request is malformed."),
        ([config(), '{"type": "pause"}'], "Control request invalid type."),
        ([config(), "{}"], "Control request invalid type."),
        ([config(), config()], "Control request invalid type."),
        (
            [config(), '{"type": "finalize", "trailing_silence_ms": -1}'],
            "Control request is malformed.",
        ),
    ],
)
async def test_bad_input_gets_400_and_close(
    mock_soniox: MockSoniox, frames: list[str | bytes], words: str
) -> None:
    out = await session_error(mock_soniox, frames)
    assert out.errors[0]["error_code"] == 400
    assert out.errors[0]["error_type"] == "invalid_request"
    assert words in out.errors[0]["error_message"]
    # Every frame, the offending one included, is in the journal.
    assert len(mock_soniox.journal.client_frames(endpoint="stt")) == len(frames)


@pytest.mark.mock_only(reason="reads the journal")
async def test_legacy_api_key_in_config(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(api_keys=("legacy-key",))
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, mock_soniox.stt_url, headers={})
        await ws.send_str(config(api_key="legacy-key"))
        await ws.send_bytes(SPEECH_CHUNK)
        await ws.send_str("")
        out = await read_all(ws)
    assert not out.errors and out.frames[-1]["finished"] is True
    [journaled] = mock_soniox.journal.client_frames("config", endpoint="stt")
    assert journaled.data["api_key"] == "REDACTED"
    assert "legacy-key" not in repr(mock_soniox.journal.entries())


@pytest.mark.parametrize(
    ("api_key", "message"), [(None, "Missing API key."), ("wrong", "Invalid API key.")]
)
async def test_legacy_api_key_missing_or_wrong(
    mock_soniox: MockSoniox, api_key: str | None, message: str
) -> None:
    mock_soniox.configure(api_keys=("legacy-key",))
    out = await session_error(mock_soniox, [config(api_key=api_key)], headers={})
    assert out.errors[0]["error_code"] == 401
    assert out.errors[0]["error_type"] == "unauthenticated"
    assert out.errors[0]["error_message"] == message
    assert "wrong" not in repr(mock_soniox.journal.entries())


async def test_key_in_handshake_and_config_is_rejected(mock_soniox: MockSoniox) -> None:
    out = await session_error(mock_soniox, [config(api_key="test-key")])
    assert out.errors[0]["error_code"] == 400
    assert "API key" in out.errors[0]["error_message"]


async def test_subprotocol_key_works_for_stt(mock_soniox: MockSoniox) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(mock_soniox.stt_url, protocols=("soniox-api-key", "k1"))
        await ws.send_str(config())
        await ws.send_bytes(SPEECH_CHUNK)
        await ws.send_str("")
        out = await read_all(ws)
    assert not out.errors


async def test_concurrent_sessions_per_key_are_limited(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(stt_max_concurrent_per_key=2)
    async with aiohttp.ClientSession() as http:
        admitted = []
        for _ in range(2):
            ws = await connect(http, mock_soniox.stt_url)
            await ws.send_str(config())
            await ws.send_bytes(SPEECH_CHUNK)
            first = json.loads((await ws.receive(timeout=5)).data)
            assert "error_code" not in first  # a result: the session was admitted
            admitted.append(ws)
        third = await session_error(mock_soniox, [config()])
        assert third.errors[0]["error_code"] == 429
        assert third.errors[0]["error_type"] == "limit_exceeded"
        # Another key is not affected.
        other = await connect(http, mock_soniox.stt_url, {"Authorization": "Bearer other-key"})
        await other.send_str(config())
        await other.send_bytes(SPEECH_CHUNK)
        await other.send_str("")
        assert not (await read_all(other)).errors
        # Finishing one admitted session frees its slot (the count drops before the close).
        await admitted[0].send_str("")
        await read_all(admitted[0])
        again = await connect(http, mock_soniox.stt_url)
        await again.send_str(config())
        await again.send_bytes(SPEECH_CHUNK)
        await again.send_str("")
        assert not (await read_all(again)).errors
        await admitted[1].close()


async def test_oversized_frame_closes_cleanly_and_others_continue(
    mock_soniox: MockSoniox,
) -> None:
    mock_soniox.configure(max_msg_size=4096)
    async with aiohttp.ClientSession() as http:
        bystander = await connect(http, mock_soniox.stt_url)
        await bystander.send_str(config())
        ws = await connect(http, mock_soniox.stt_url)
        await ws.send_str(config())
        await ws.send_bytes(b"\x00" * 10_000)
        out = await read_all(ws)
        assert out.close_code == 1009
        await bystander.send_bytes(SPEECH_CHUNK)
        await bystander.send_str("")
        rest = await read_all(bystander)
    assert rest.frames[-1]["finished"] is True
