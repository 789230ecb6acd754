"""The published STT error list (protocol A9), message by message, each from its own trigger.

Every frame is ``{"tokens": [], error_code, error_type, error_message, more_info, request_id}``
followed by a normal close, as the STT reference shows it. CONFORMANCE.md points at these tests.
They run against ``soniox_target`` (the mock, or the live service with MOCK_SONIOX_TARGET=live);
the ones that need the mock's settings, timers or faults are ``mock_only``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.stt import BASIC_CONFIG, connect, read_all, session_error
from mock_soniox.testing.target import Target

SPEECH_CHUNK = b"\x00\x10" * 1920  # 120 ms of 16 kHz s16le
SLOW = 5000.0  # a timer scaled to 5 s: never the one that fires by accident


def config(**changes: Any) -> str:
    return json.dumps({k: v for k, v in {**BASIC_CONFIG, **changes}.items() if v is not ...})


async def error_of(
    target: Target, frames: list[str | bytes], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Send ``frames``; the one error frame the server answers with (checked for shape).

    ``headers`` default to the target's key.
    """
    return (await session_error(target, frames, headers)).errors[0]


def catalogue_file(tmp_path: Path, **stt_models: dict[str, Any]) -> str:
    path = tmp_path / "models.json"
    models = {
        name: {"status": entry.get("status", "active"), "features": entry.get("features", {})}
        for name, entry in stt_models.items()
    }
    body = {
        "stt": {"models": models, "aliases": {}, "languages": ["en", "es"]},
        "tts": {"models": {"tts-rt-v1": {"status": "active"}}, "aliases": {}},
    }
    path.write_text(json.dumps(body))
    return str(path)


# --- 400: the config (start request) ---

CONFIG_400 = [
    ("no-channels", {"num_channels": ...}, "Audio data channels must be specified for PCM formats"),
    (
        "no-sample-rate",
        {"sample_rate": ...},
        "Audio data sample rate must be specified for PCM formats",
    ),
    (
        "reference-id-too-long",
        {"client_reference_id": "x" * 257},
        "Client reference ID is too long (max length 256)",
    ),
    ("context-too-long", {"context": "x" * 10_001}, "Context is too long (max length 10000)."),
    ("invalid-format", {"audio_format": "avi"}, "Invalid audio data format: avi"),
    ("invalid-language-hint", {"language_hints": ["en", "xx"]}, "Invalid language hint."),
    ("invalid-model", {"model": "stt-rt-v0"}, "Invalid model specified."),
    (
        "invalid-translation-target",
        {"translation": {"type": "one_way", "target_language": "qq"}},
        "Invalid translation target language.",
    ),
    ("hints-not-unique", {"language_hints": ["en", "es", "en"]}, "Language hints must be unique."),
    (
        "missing-audio-format",
        {"audio_format": ...},
        "Missing audio format. Specify a valid audio format (e.g. s16le, f32le, wav, ogg, "
        'flac...) or "auto" for auto format detection.',
    ),
    ("null-audio-format", {"audio_format": None}, "Missing audio format. Specify"),
]


@pytest.mark.parametrize(
    ("changes", "message"), [c[1:] for c in CONFIG_400], ids=[c[0] for c in CONFIG_400]
)
async def test_published_400_for_the_config(
    soniox_target: Target, changes: dict[str, Any], message: str
) -> None:
    error = await error_of(soniox_target, [config(**changes)])
    assert error["error_code"] == 400
    assert error["error_message"].startswith(message)
    expected_type = "model_not_available" if "model" in changes else "invalid_request"
    assert error["error_type"] == expected_type


@pytest.mark.mock_only(reason="a model catalogue of its own")
async def test_model_without_translation_says_so(
    mock_soniox: MockSoniox, soniox_target: Target, tmp_path: Path
) -> None:
    mock_soniox.configure(
        models_file=catalogue_file(tmp_path, **{"stt-rt-x": {"features": {"translation": False}}})
    )
    translation = {"type": "one_way", "target_language": "es"}
    error = await error_of(soniox_target, [config(model="stt-rt-x", translation=translation)])
    assert (error["error_code"], error["error_message"]) == (
        400,
        "Model does not support translations.",
    )


@pytest.mark.mock_only(reason="a model catalogue of its own")
async def test_retired_model_is_an_invalid_model(
    mock_soniox: MockSoniox, soniox_target: Target, tmp_path: Path
) -> None:
    mock_soniox.configure(
        models_file=catalogue_file(tmp_path, **{"stt-rt-old": {"status": "retired"}})
    )
    error = await error_of(soniox_target, [config(model="stt-rt-old")])
    assert (error["error_code"], error["error_message"]) == (400, "Invalid model specified.")


# --- 400: the frames ---

FRAMES_400 = [
    ("start-not-json", ["{model"], "Start request is malformed."),
    ("start-not-object", ['["stt-rt-v5"]'], "Start request is malformed."),
    ("start-is-control", ['{"type": "keepalive"}'], "Start request is malformed."),
    ("start-binary", [SPEECH_CHUNK], "Start request must be a text message."),
    ("control-unknown-type", [config(), '{"type": "pause"}'], "Control request invalid type."),
    ("control-no-type", [config(), '{"foo": 1}'], "Control request invalid type."),
    ("control-second-config", [config(), config()], "Control request invalid type."),
    ("control-not-json", [config(), "{type"], "Control request is malformed."),
    ("control-base64-audio", [config(), "AAAQAPD/AAAQ"], "Control request is malformed."),
    (
        "control-bad-field",
        [config(), '{"type": "finalize", "trailing_silence_ms": "x"}'],
        "Control request is malformed.",
    ),
    ("finish-without-audio", [config(), ""], "No audio received."),
    ("empty-binary-without-audio", [config(), b""], "No audio received."),
    (
        "declared-wav-is-not-wav",
        [config(audio_format="wav"), b"ID3" + b"\0" * 64],
        "Audio decode error",
    ),
]


@pytest.mark.parametrize(
    ("frames", "message"), [c[1:] for c in FRAMES_400], ids=[c[0] for c in FRAMES_400]
)
async def test_published_400_for_the_frames(
    soniox_target: Target, frames: list[str | bytes], message: str
) -> None:
    error = await error_of(soniox_target, frames)
    assert (error["error_code"], error["error_message"]) == (400, message)


@pytest.mark.mock_only(reason="a session cap shortened to 0.2 s")
async def test_audio_too_long(mock_soniox: MockSoniox, soniox_target: Target) -> None:
    mock_soniox.configure(stt_max_session_s=0.2)  # timers keep their length at time_scale 0
    error = await error_of(soniox_target, [config(), SPEECH_CHUNK, SPEECH_CHUNK])
    assert (error["error_code"], error["error_message"]) == (400, "Audio is too long.")


@pytest.mark.mock_only(reason="an audio byte cap of two chunks")
async def test_too_much_audio_data_in_total(mock_soniox: MockSoniox, soniox_target: Target) -> None:
    mock_soniox.configure(stt_max_audio_bytes=len(SPEECH_CHUNK) * 2)
    frames: list[str | bytes] = [config(), SPEECH_CHUNK, SPEECH_CHUNK, SPEECH_CHUNK]
    error = await error_of(soniox_target, frames)
    assert (error["error_code"], error["error_message"]) == (
        400,
        "Received too much audio data in total.",
    )


# --- 401 ---


@pytest.mark.parametrize(
    ("headers", "frames", "message"),
    [
        pytest.param(
            {"Authorization": "Bearer wrong"}, [config()], "Invalid API key.", id="header"
        ),
        pytest.param({}, [config(api_key="wrong")], "Invalid API key.", id="legacy"),
        pytest.param(
            {"Authorization": "Bearer snx_temp_expired"},
            [config()],
            "Invalid/expired temporary API key.",
            id="temporary",
        ),
        pytest.param({}, [config()], "Missing API key.", id="missing"),
    ],
)
async def test_published_401(
    soniox_target: Target,
    mock_behind_target: MockSoniox | None,
    headers: dict[str, str],
    frames: list[str | bytes],
    message: str,
) -> None:
    if mock_behind_target is not None:  # the live service knows its keys already
        mock_behind_target.configure(api_keys=("good-key",))
    error = await error_of(soniox_target, frames, headers)
    assert (error["error_code"], error["error_type"]) == (401, "unauthenticated")
    assert error["error_message"] == message


@pytest.mark.mock_only(reason="reject_upgrade_on_auth_error is a mock setting")
async def test_refused_upgrade_uses_the_published_401_text(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(api_keys=("good-key",), reject_upgrade_on_auth_error=True)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await connect(http, mock_soniox.stt_url, {"Authorization": "Bearer wrong"})
    assert info.value.status == 401


# --- 408: the four timers (time-scaled: 0.001 makes 20 s into 20 ms) ---


@pytest.mark.mock_only(reason="timers shortened by the time scale")
async def test_start_request_timeout(mock_soniox: MockSoniox, soniox_target: Target) -> None:
    mock_soniox.configure(time_scale=0.001)
    error = await error_of(soniox_target, [])
    assert (error["error_code"], error["error_message"]) == (408, "Start request timeout")


@pytest.mark.mock_only(reason="timers shortened by the time scale")
async def test_first_audio_timeout_is_not_reset_by_keepalives(
    mock_soniox: MockSoniox, soniox_target: Target
) -> None:
    mock_soniox.configure(
        time_scale=0.001, stt_idle_timeout_s=SLOW, stt_first_audio_timeout_s=100.0
    )
    keepalives = ['{"type": "keepalive"}'] * 3
    error = await error_of(soniox_target, [config(), *keepalives])
    assert (error["error_code"], error["error_message"]) == (
        408,
        "Timed out while waiting for the first audio chunk",
    )


@pytest.mark.mock_only(reason="timers shortened by the time scale")
async def test_idle_timeout_after_audio(mock_soniox: MockSoniox, soniox_target: Target) -> None:
    mock_soniox.configure(
        time_scale=0.001, stt_input_too_slow_margin_s=SLOW, stt_config_timeout_s=SLOW
    )
    error = await error_of(soniox_target, [config(), SPEECH_CHUNK])
    assert (error["error_code"], error["error_type"]) == (408, "request_timeout")
    assert error["error_message"] == "Request timeout."


@pytest.mark.mock_only(reason="timers shortened by the time scale")
async def test_decode_timeout_when_a_container_header_never_completes(
    mock_soniox: MockSoniox, soniox_target: Target
) -> None:
    mock_soniox.configure(
        time_scale=0.001, stt_input_too_slow_margin_s=SLOW, stt_config_timeout_s=SLOW
    )
    error = await error_of(soniox_target, [config(audio_format="wav"), b"RIFF"])
    assert (error["error_code"], error["error_message"]) == (408, "Audio data decode timeout")


@pytest.mark.mock_only(reason="timers shortened by the time scale")
async def test_input_too_slow_at_a_time_scale_above_zero(
    mock_soniox: MockSoniox, soniox_target: Target
) -> None:
    # 10 s margin at scale 0.001 = 10 ms: 120 ms of audio, then nothing for longer than
    # 130 ms of (scaled) wall time, with the idle timer far away.
    mock_soniox.configure(
        time_scale=0.001,
        stt_idle_timeout_s=SLOW,
        stt_config_timeout_s=SLOW,
        stt_input_too_slow_margin_s=10.0,
    )
    error = await error_of(soniox_target, [config(), SPEECH_CHUNK])
    assert (error["error_code"], error["error_message"]) == (408, "Input too slow")


@pytest.mark.mock_only(reason="time scale 0")
async def test_no_input_too_slow_at_time_scale_zero(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(stt_input_too_slow_margin_s=0.001)
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, mock_soniox.stt_url)
        await ws.send_str(config())
        await ws.send_bytes(SPEECH_CHUNK)
        await ws.send_str("")
        out = await read_all(ws)
    assert not out.errors and out.frames[-1]["finished"] is True


# --- 429, and the codes only a fault produces ---


@pytest.mark.mock_only(reason="a concurrency limit of one")
async def test_concurrency_429(mock_soniox: MockSoniox, soniox_target: Target) -> None:
    mock_soniox.configure(stt_max_concurrent_per_key=1)
    async with aiohttp.ClientSession() as http:
        first = await connect(http, mock_soniox.stt_url)
        await first.send_str(config())
        await first.send_bytes(SPEECH_CHUNK)
        await first.receive(timeout=5)
        error = await error_of(soniox_target, [config()])
        await first.close()
    assert (error["error_code"], error["error_type"]) == (429, "limit_exceeded")
    assert error["error_message"] == "Your project has exceeded max number of concurrent requests."


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            402,
            "Organization balance exhausted. Please either add funds manually or enable autopay.",
        ),
        (
            500,
            "The server had an error processing your request. Sorry about that! You can retry "
            "your request, or contact us through our support email support@soniox.com if you "
            "keep seeing this error.",
        ),
        (
            503,
            "Cannot continue request (code 11). Please restart the request. "
            "Refer to: https://soniox.com/url/cannot-continue-request",
        ),
    ],
)
@pytest.mark.mock_only(reason="injected faults")
async def test_injected_errors_use_the_published_text(
    mock_soniox: MockSoniox, soniox_target: Target, code: int, message: str
) -> None:
    mock_soniox.faults.add(f"error:code={code},after_frames=2")
    error = await error_of(soniox_target, [config(), SPEECH_CHUNK])
    assert (error["error_code"], error["error_message"]) == (code, message)
