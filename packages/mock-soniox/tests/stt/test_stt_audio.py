"""The audio clock: every format's bytes become the right milliseconds, and speech is found."""

from __future__ import annotations

import json

import aiohttp
import numpy as np
import pytest

from mock_soniox.audio import RAW_FORMATS, encode, wav_header
from mock_soniox.stt.config import STT_RAW_FORMATS
from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.stt import Transcript, connect, read_all, run_session, speech

ENCODABLE = frozenset(
    {"pcm_s8", "pcm_s16le", "pcm_s16be", "pcm_s32le", "pcm_s32be", "mulaw", "alaw"}
    | {"pcm_f32le", "pcm_f32be", "pcm_f64le", "pcm_f64be"}
)


def raw_bytes(fmt: str, ms: int, rate: int, channels: int) -> bytes:
    """``ms`` of audio in ``fmt``: a tone where we can encode it, else mid-scale bytes."""
    if fmt in ENCODABLE:
        mono = speech(("tone", ms), rate=rate)
        return encode(fmt, np.repeat(mono, channels))
    return b"\x80" * (RAW_FORMATS[fmt].width * channels * rate * ms // 1000)


async def finished_total(mock: MockSoniox, config: dict[str, object], audio: bytes) -> Transcript:
    async with aiohttp.ClientSession() as http:
        out = await run_session(http, mock.stt_url, config, audio, chunk_bytes=999)
    assert not out.errors, out.errors
    return out


@pytest.mark.parametrize("fmt", sorted(STT_RAW_FORMATS))
@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (8000, 2)])
async def test_raw_format_clock(
    mock_soniox: MockSoniox, fmt: str, rate: int, channels: int
) -> None:
    config = {
        "model": "stt-rt-v5",
        "audio_format": fmt,
        "sample_rate": rate,
        "num_channels": channels,
    }
    out = await finished_total(mock_soniox, config, raw_bytes(fmt, 1000, rate, channels))
    assert out.frames[-1]["total_audio_proc_ms"] == 1000
    if fmt in ENCODABLE:  # the tone is heard as speech, whatever the format
        assert out.final_text(markers=False)


@pytest.mark.parametrize("fmt", ["pcm_s8le", "pcm_u8be"])
async def test_js_sdk_8_bit_spellings(mock_soniox: MockSoniox, fmt: str) -> None:
    config = {"model": "stt-rt-v5", "audio_format": fmt, "sample_rate": 8000, "num_channels": 1}
    out = await finished_total(mock_soniox, config, b"\x00" * 8000)
    assert out.frames[-1]["total_audio_proc_ms"] == 1000


@pytest.mark.parametrize("audio_format", ["auto", "wav"])
@pytest.mark.parametrize(
    ("fmt", "rate", "channels"),
    [("pcm_s16le", 16000, 1), ("mulaw", 8000, 1), ("pcm_f32le", 24000, 2)],
)
async def test_wav_header_sets_the_clock(
    mock_soniox: MockSoniox, audio_format: str | None, fmt: str, rate: int, channels: int
) -> None:
    body = encode(fmt, np.repeat(speech(("tone", 700), ("silence", 300), rate=rate), channels))
    config: dict[str, object] = {"model": "stt-rt-v5", "audio_format": audio_format}
    # The header's values win over whatever the config says.
    config |= {"sample_rate": 44100, "num_channels": 1} if audio_format == "auto" else {}
    audio = wav_header(fmt, rate, channels) + body
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, mock_soniox.stt_url)
        await ws.send_str(json.dumps(config))
        for i in range(0, len(audio), 7):  # the header arrives in pieces
            if i > 100:
                await ws.send_bytes(audio[i:])
                break
            await ws.send_bytes(audio[i : i + 7])
        await ws.send_str("")
        out = await read_all(ws)
    assert not out.errors, out.errors
    assert out.frames[-1]["total_audio_proc_ms"] == 1000
    assert max(t["end_ms"] for t in out.finals if "end_ms" in t) == 700


@pytest.mark.parametrize("audio_format", ["auto", "wav"])
async def test_non_wav_container_bytes_are_refused(
    mock_soniox: MockSoniox, audio_format: str
) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, mock_soniox.stt_url)
        await ws.send_str(json.dumps({"model": "stt-rt-v5", "audio_format": audio_format}))
        await ws.send_bytes(b"ID3\x04\x00" + b"\x00" * 100)  # an MP3 stream's start
        out = await read_all(ws)
    assert out.errors[0]["error_code"] == 400
    # Declared wav: the published "Audio decode error"; auto: the mock says it decodes only WAV.
    message = out.errors[0]["error_message"]
    assert message == "Audio decode error" if audio_format == "wav" else "WAV" in message


async def test_partial_sample_frames_carry_over(mock_soniox: MockSoniox) -> None:
    config = {"model": "stt-rt-v5", "audio_format": "pcm_s24be", "sample_rate": 8000}
    config["num_channels"] = 2
    out = await finished_total(mock_soniox, config, b"\x01" * (6 * 8000 // 2))  # odd chunks
    assert out.frames[-1]["total_audio_proc_ms"] == 500
    assert mock_soniox.journal.client_frames("audio", endpoint="stt")[0].data == {"bytes": 999}
