"""The coroutine PluginTTSUser runs, on pytest's own loop against the mock (no gevent here)."""

from __future__ import annotations

from typing import Any

import pytest

from soniox_loadtest.plugin_tts import open_plugin_tts, synthesize


async def test_a_plugin_stream_reports_first_audio_and_its_audio_length(mock_soniox: Any) -> None:
    target = await open_plugin_tts(mock_soniox.tts_url, "test-key")
    try:
        state = await synthesize(target.tts, ["Hello there. ", "How are you today? "], 10.0)
    finally:
        await target.aclose()
    assert state.failure is None
    assert state.ttfa_ms is not None and state.ttfa_ms >= 0
    assert state.audio_frames > 0
    # 24 kHz s16le mono: every byte counts toward the audio's length.
    assert state.audio_seconds == pytest.approx(state.audio_bytes / 48000)
    assert state.audio_seconds and state.audio_seconds > 0.5


async def test_a_plugin_stream_the_service_refuses_is_a_failure_with_its_code(
    mock_soniox: Any,
) -> None:
    target = await open_plugin_tts(mock_soniox.tts_url, "test-key")
    mock_soniox.faults.add("error:code=400")
    try:
        state = await synthesize(target.tts, ["Hello there. "], 10.0)
    finally:
        await target.aclose()
    assert state.failure is not None
    assert state.failure.code == 400
