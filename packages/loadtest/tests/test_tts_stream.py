"""Demultiplexed TTS frames: how one stream's frames turn into timings and outcomes."""

import base64

from soniox_loadtest.tts_stream import (
    ConnectionLost,
    TTSStreamState,
    bytes_per_second,
)

CHUNK = base64.b64encode(b"\x00\x01" * 2400).decode()  # 100 ms of 24 kHz s16le


def audio(end: bool = False) -> dict[str, object]:
    return {"stream_id": "s", "audio": CHUNK, "audio_end": end}


def test_a_complete_stream_reports_first_audio_total_and_audio_length() -> None:
    state = TTSStreamState("s", sent_at=10.0, bytes_per_s=bytes_per_second("pcm_s16le", 24000))
    state.on_frame(audio(), 10.15)
    state.on_frame(audio(), 10.2)
    state.on_frame(audio(end=True), 10.25)
    assert not state.done
    state.on_frame({"stream_id": "s", "terminated": True}, 10.3)
    assert state.done and state.failure is None
    assert round(state.ttfa_ms or 0) == 150
    assert round(state.total_ms) == 300
    assert state.audio_frames == 3 and state.audio_bytes == 3 * 4800
    assert state.audio_seconds == 0.3
    assert round(state.real_time_factor or 0, 3) == 1.0


def test_an_error_frame_fails_the_stream_with_its_code() -> None:
    state = TTSStreamState("s", 0.0, None)
    state.on_frame(
        {
            "stream_id": "s",
            "error_code": 408,
            "error_type": "request_timeout",
            "error_message": "Request timeout",
        },
        1.0,
    )
    assert state.done
    assert state.failure is not None and state.failure.code == 408
    assert state.failure.label == "408"
    assert str(state.failure) == "408 request_timeout: Request timeout"


def test_a_numeric_string_error_code_still_counts_by_code() -> None:
    state = TTSStreamState("s", 0.0, None)
    state.on_frame({"stream_id": "s", "error_code": "429", "error_message": "x"}, 1.0)
    assert state.failure is not None and state.failure.label == "429"


def test_terminated_without_audio_end_is_a_server_abort() -> None:
    state = TTSStreamState("s", 0.0, None)
    state.on_frame(audio(), 0.1)
    state.on_frame({"stream_id": "s", "terminated": True}, 0.2)
    assert state.failure is not None
    assert state.failure.label == "terminated without audio_end"


def test_terminated_after_our_cancel_is_fine() -> None:
    state = TTSStreamState("s", 0.0, None)
    state.cancelled = True
    state.on_frame({"stream_id": "s", "terminated": True}, 0.2)
    assert state.done and state.failure is None


def test_audio_after_audio_end_is_a_protocol_violation() -> None:
    state = TTSStreamState("s", 0.0, None)
    state.on_frame(audio(end=True), 0.1)
    state.on_frame(audio(), 0.2)
    assert state.failure is not None and str(state.failure) == "audio after audio_end"


def test_audio_that_is_not_valid_base64_fails_the_stream() -> None:
    state = TTSStreamState("s", 0.0, None)
    state.on_frame({"stream_id": "s", "audio": "not base64!"}, 0.1)
    assert state.failure is not None and state.failure.label == "invalid base64 audio"


def test_a_lost_connection_fails_open_streams_with_the_servers_code() -> None:
    state = TTSStreamState("s", 0.0, None)
    state.on_connection_lost(ConnectionLost("503 service_unavailable", 503), 1.0)
    assert state.done and state.failure is not None and state.failure.label == "503"
    other = TTSStreamState("t", 0.0, None)
    other.on_connection_lost(ConnectionLost("1006 ConnectionResetError"), 1.0)
    assert other.failure is not None and other.failure.label == "connection lost"


def test_a_stream_that_never_ends_times_out_once() -> None:
    state = TTSStreamState("s", 0.0, None)
    state.on_timeout(30.0)
    state.on_frame({"stream_id": "s", "terminated": True}, 31.0)  # too late: ignored
    assert state.failure is not None and state.failure.label == "timeout"
    assert state.total_ms == 30_000.0


def test_compressed_formats_have_no_audio_duration() -> None:
    assert bytes_per_second("mp3", 24000) is None
    assert bytes_per_second("opus", 24000) is None
    assert bytes_per_second("pcm_f32le", 16000) == 64000
    assert bytes_per_second("pcm_s16be", 24000) == 48000
    assert bytes_per_second("mulaw", 8000) == 8000
